/**
 * deploy/ configuration: every environment variable a manifest sets is one the component's real config loader
 * reads, the loader accepts what the manifests set (Secrets mounted as files included), and the ports and names the
 * manifests rely on are the ones the loaders produce.
 */
import assert from "node:assert/strict";
import { loadHandlerConfig } from "../../handler/config.ts";
import { toStopBoundS } from "../../handler/start.ts";
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { OTLP_ENV_NAMES } from "../../shared/telemetry/telemetry.ts";
import { findObject, KUBECTL, type KubeObject, listInstallable, renderKustomization } from "./render.ts";
import { findComponent, materializeMounts, readData, resolveEnv, resolvePort, type Workload } from "./workloads.ts";
import { recordReads } from "../support/env_reads.ts";

const ignore = KUBECTL === null;

/** Read by the OpenTelemetry exporter itself when OTEL_ENABLED is true, not by the loaders (shared/telemetry.ts). */
const EXPORTER_ENV_NAMES = new Set(OTLP_ENV_NAMES);

/** What the kubelet adds to every container's environment (the loaders may read these too). */
const KUBELET_ENV = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443", HOSTNAME: "pod-0" };

/** The component's environment from the render, with mounted Secrets written below `rootDir`. */
function podEnv(objects: KubeObject[], workload: Workload, rootDir: string) {
  const container = workload.pod.containers[0]!;
  const { values, sources } = resolveEnv(objects, container);
  const env = materializeMounts({ objects, pod: workload.pod, container, rootDir, values });
  return { container, env, sources };
}

/** The installable kustomizations rendered once; empty when kubectl is missing. */
const RENDERS: [string, KubeObject[]][] = KUBECTL === null ? [] : await Promise.all(
  listInstallable().map(async (dir) => [dir, await renderKustomization(KUBECTL!, dir)] as [string, KubeObject[]]),
);

function hasComponent(objects: KubeObject[], component: string): boolean {
  return objects.some((o) =>
    ["Deployment", "DaemonSet"].includes(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === component
  );
}

for (const [dir, objects] of RENDERS.filter(([, objects]) => hasComponent(objects, "handler"))) {
  Deno.test({
    name: `${dir}: the handler's config loader reads every variable the manifest sets and accepts their values`,
    fn: async () => {
      const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
      try {
        const { container, env, sources } = podEnv(objects, findComponent(objects, "handler"), rootDir);
        const recorded = recordReads({ ...KUBELET_ENV, ...env });
        const config = loadHandlerConfig(recorded.env);
        assert.deepEqual(
          Object.keys(sources).filter((name) => !recorded.names.has(name) && !EXPORTER_ENV_NAMES.has(name)),
          [],
        );
        assert.equal(config.port, resolvePort(container, "http"));
        assert.ok(config.tokenHashes.length > 0);
        const pod = findComponent(objects, "handler").pod as { terminationGracePeriodSeconds?: number };
        const graceS = pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(graceS > toStopBoundS(config.shutdownDeadlineS), `grace period ${graceS} s below the stop bound`);
        const startup = container.startupProbe;
        assert.ok(startup, "the handler has a startup probe");
        // Kubernetes defaults: periodSeconds 10, failureThreshold 3.
        const startupS = (startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3);
        assert.ok(startupS > config.dbReadyTimeoutS, `startup probe gives up after ${startupS} s`);
      } finally {
        await Deno.remove(rootDir, { recursive: true });
      }
    },
  });
}

for (const [dir, objects] of RENDERS.filter(([, objects]) => hasComponent(objects, "relay"))) {
  Deno.test({
    name: `${dir}: the relay's config loader reads every variable the manifest sets and accepts their values`,
    fn: async () => {
      const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
      try {
        const relay = findComponent(objects, "relay");
        const { container, env, sources } = podEnv(objects, relay, rootDir);
        const recorded = recordReads({ ...KUBELET_ENV, ...env, POD_NAMESPACE: relay.object.metadata.namespace ?? "" });
        const config = loadRelayConfig(recorded.env, { hostname: "pod-0" });
        assert.deepEqual(
          Object.keys(sources).filter((name) => !recorded.names.has(name) && !EXPORTER_ENV_NAMES.has(name)),
          [],
        );
        assert.equal(config.healthPort, resolvePort(container, "health"));
        const pod = relay.pod as { terminationGracePeriodSeconds?: number };
        assert.ok((pod.terminationGracePeriodSeconds ?? 30) > config.shutdownDeadlineS, "grace period below shutdown");
        assert.deepEqual(config.kube, { mode: "in-cluster" });
        assert.equal(config.podName, "<fieldRef:metadata.name>");
        assert.equal(config.leaseNamespace, relay.object.metadata.namespace);
        const leaseRole = findObject(objects, "Role", "events-ingester-relay-lease");
        const named = (leaseRole.rules as { resourceNames?: string[] }[]).flatMap((rule) => rule.resourceNames ?? []);
        assert.deepEqual(named, [config.leaseName]);
        assert.equal(leaseRole.metadata.namespace, config.leaseNamespace);
        assert.ok("file" in config.handlerToken && Deno.readTextFileSync(config.handlerToken.file).length > 0);
      } finally {
        await Deno.remove(rootDir, { recursive: true });
      }
    },
  });
}

/** `cluster -> sha256 hex of its relay token` for the relays of `dirs`. */
async function relayTokenHashes(dirs: string[]): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const dir of dirs) {
    const objects = await renderKustomization(KUBECTL!, dir);
    const env = resolveEnv(objects, findComponent(objects, "relay").pod.containers[0]!).values;
    hashes[env.CLUSTER_NAME!] = await toTokenHashHex(readData(objects, "Secret", "events-ingester-relay-token").token!);
  }
  return hashes;
}

/** `cluster -> sha256 hex` as the handler of `dir` accepts them, read by the real loader. */
async function handlerTokenHashes(dir: string): Promise<Record<string, string>> {
  const objects = await renderKustomization(KUBECTL!, dir);
  const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
  try {
    const { env } = podEnv(objects, findComponent(objects, "handler"), rootDir);
    const config = loadHandlerConfig(env);
    return Object.fromEntries(config.tokenHashes.map((entry) => [entry.cluster, entry.sha256Hex]));
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
}

Deno.test({
  name: "deploy/overlays/single-cluster: the handler accepts the example relay token for the relay's cluster",
  ignore,
  fn: async () => {
    const dir = "deploy/overlays/single-cluster";
    assert.deepEqual(await handlerTokenHashes(dir), await relayTokenHashes([dir]));
  },
});

Deno.test({
  name: "deploy/examples/multi-cluster: the hosted handler accepts the example token of each cluster's relay",
  ignore,
  fn: async () => {
    const hosted = await handlerTokenHashes("deploy/examples/multi-cluster/hosted-handler");
    const relays = await relayTokenHashes([
      "deploy/examples/multi-cluster/cluster-a",
      "deploy/examples/multi-cluster/cluster-b",
    ]);
    assert.deepEqual(Object.keys(relays), ["cluster-a", "cluster-b"]);
    assert.deepEqual(hosted, relays);
  },
});
