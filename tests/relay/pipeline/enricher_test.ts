import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { Enricher } from "../../../relay/pipeline/enricher.ts";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { createRelayMetrics, type RelayMetrics } from "../../../relay/metrics.ts";
import { type Simulator, startSimulator } from "../../../relay/simulator/simulator.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

type Counts = Record<string, number>;

/** Metrics whose enrichment counters tally into `counts` (by name and code). */
function countingMetrics(counts: Counts): RelayMetrics {
  const metrics = createRelayMetrics(createNoopMeter());
  const tally = (name: string) => ({
    add(value: number, attributes?: Record<string, unknown>) {
      const key = attributes?.code === undefined ? name : `${name}:${String(attributes.code)}`;
      counts[key] = (counts[key] ?? 0) + value;
    },
  });
  return {
    ...metrics,
    enrichCacheHits: tally("hits") as RelayMetrics["enrichCacheHits"],
    enrichCacheMisses: tally("misses") as RelayMetrics["enrichCacheMisses"],
    enrichFailures: tally("failures") as RelayMetrics["enrichFailures"],
  };
}

async function withEnricher(
  fn: (enricher: Enricher, simulator: Simulator, counts: Counts) => Promise<void>,
  options: { timeoutMs?: number } = {},
) {
  const simulator = await startSimulator();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
  const kube = await createKubeClient({ connection: { mode: "kubeconfig", path: `${dir}/kubeconfig` } });
  const counts: Counts = {};
  const enricher = new Enricher({
    kube,
    cacheEntriesMax: 100,
    cacheTtlMs: 60_000,
    timeoutMs: options.timeoutMs ?? 2_000,
    metrics: countingMetrics(counts),
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
  try {
    await fn(enricher, simulator, counts);
  } finally {
    kube.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Enricher returns labels, the owner chain up to the top and the composition label", async () => {
  await withEnricher(async (enricher, simulator) => {
    const deployment = simulator.putObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "shop", labels: { app: "web" } },
    });
    const replicaSet = simulator.putObject({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: "web-1",
        namespace: "shop",
        labels: { app: "web" },
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: "web",
          uid: deployment.metadata.uid!,
          controller: true,
        }],
      },
    });
    simulator.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "web-1-abc",
        namespace: "shop",
        labels: { app: "web", "krateo.io/composition-id": "7d0f3a52-8f0e-4c1b-9d7e-2a6b5c4d3e21" },
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "web-1",
          uid: replicaSet.metadata.uid!,
          controller: true,
        }],
      },
    });
    const enrichment = await enricher.enrich({ apiVersion: "v1", kind: "Pod", namespace: "shop", name: "web-1-abc" });
    assert.deepEqual(enrichment, {
      labels: { app: "web", "krateo.io/composition-id": "7d0f3a52-8f0e-4c1b-9d7e-2a6b5c4d3e21" },
      owners: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: replicaSet.metadata.uid },
        { apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: deployment.metadata.uid },
      ],
      compositionId: "7d0f3a52-8f0e-4c1b-9d7e-2a6b5c4d3e21",
    });
  });
});

Deno.test("Enricher uses the object's own uid as composition id for the composition.krateo.io group", async () => {
  await withEnricher(async (enricher, simulator) => {
    const composition = simulator.putObject({
      apiVersion: "composition.krateo.io/v1-2-0",
      kind: "FireworksApp",
      metadata: { name: "demo", namespace: "krateo", labels: {} },
    });
    const enrichment = await enricher.enrich({
      apiVersion: "composition.krateo.io/v1-2-0",
      kind: "FireworksApp",
      namespace: "krateo",
      name: "demo",
    });
    assert.deepEqual(enrichment, { labels: {}, compositionId: composition.metadata.uid });
  });
});

Deno.test("Enricher answers NOT_FOUND, FORBIDDEN and UNKNOWN_KIND as enrichment.error and counts them", async () => {
  await withEnricher(async (enricher, simulator, counts) => {
    simulator.injectErrors({ method: "GET", pathPattern: /\/pods\/secret-pod/, status: 403, times: 1 });
    assert.deepEqual(await enricher.enrich({ kind: "Pod", namespace: "a", name: "gone" }), { error: "NOT_FOUND" });
    assert.deepEqual(await enricher.enrich({ kind: "Pod", namespace: "a", name: "secret-pod" }), {
      error: "FORBIDDEN",
    });
    assert.deepEqual(await enricher.enrich({ apiVersion: "v1", kind: "Gizmo", name: "g" }), { error: "UNKNOWN_KIND" });
    assert.equal(await enricher.enrich({ namespace: "a" }), undefined);
    assert.deepEqual(
      {
        notFound: counts["failures:NOT_FOUND"],
        forbidden: counts["failures:FORBIDDEN"],
        unknown: counts["failures:UNKNOWN_KIND"],
      },
      { notFound: 1, forbidden: 1, unknown: 1 },
    );
  });
});

Deno.test("Enricher answers from the cache the second time", async () => {
  await withEnricher(async (enricher, simulator, counts) => {
    simulator.putObject({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "a", labels: { x: "1" } } });
    const ref = { apiVersion: "v1", kind: "Pod", namespace: "a", name: "p" };
    await enricher.enrich(ref);
    const gets = simulator.requestLog.filter((r) => r.path.startsWith("/api/v1/namespaces/a/pods/p")).length;
    assert.deepEqual(await enricher.enrich(ref), { labels: { x: "1" }, compositionId: null });
    assert.equal(simulator.requestLog.filter((r) => r.path.startsWith("/api/v1/namespaces/a/pods/p")).length, gets);
    assert.deepEqual({ hits: counts.hits, misses: counts.misses }, { hits: 1, misses: 1 });
  });
});

Deno.test("Enricher gives up after timeoutMs with error TIMEOUT; the event is not held longer", async () => {
  await withEnricher(async (enricher, simulator, counts) => {
    simulator.putObject({ apiVersion: "v1", kind: "Pod", metadata: { name: "slow", namespace: "a" } });
    simulator.setLatency(1_000);
    const started = Date.now();
    const enrichment = await enricher.enrich({ apiVersion: "v1", kind: "Pod", namespace: "a", name: "slow" });
    const elapsedMs = Date.now() - started;
    assert.deepEqual(enrichment, { error: "TIMEOUT" });
    assert.ok(elapsedMs >= 150 && elapsedMs < 600, `took ${elapsedMs} ms`);
    assert.equal(counts["failures:TIMEOUT"], 1);
    simulator.setLatency(0);
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // let the slow lookup finish before teardown
  }, { timeoutMs: 200 });
});
