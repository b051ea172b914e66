import assert from "node:assert/strict";
import { HandlerClient } from "../../../relay/send/handler_client.ts";
import { createRelayMetrics } from "../../../relay/metrics.ts";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { createNoopMeter } from "@opentelemetry/api";
import { assertAllStored, CLUSTER, TOKEN, waitUntil, withPipeline } from "../../support/pipeline.ts";

const LEASE = { namespace: "default", name: "events-ingester-relay" };

Deno.test("two relays: only the leader watches; when it is killed the standby takes over within the lease", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 300, namespace: "a" });
    const leader = pipeline.spawnRelay("relay-a");
    await assertAllStored(pipeline);
    const standby = await pipeline.startRelay("relay-b");
    await waitUntil("the standby is ready", () => standby.relay.health.readiness().isReady);
    assert.deepEqual(standby.relay.health.readiness(), { isReady: true, reason: "standby" });
    const watchers = () => simulator.requestLog.filter((r) => r.path.includes("watch=true")).length;
    const watchesBefore = watchers();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(watchers(), watchesBefore, "the standby must not watch");
    const streaming = simulator.burst({ count: 1000, perSecond: 2000, namespace: "b" });
    await waitUntil("part of the stream is stored", async () => (await pipeline.storedVersions()).length >= 500);
    await leader.kill("SIGKILL");
    const killedAtMs = Date.now();
    await streaming;
    await waitUntil("the standby leads", () => standby.logs.some((l) => l.includes('"msg":"became leader"')));
    const takeoverMs = Date.now() - killedAtMs;
    assert.ok(takeoverMs < 2_000 + 1_000, `takeover took ${takeoverMs} ms with LEASE_DURATION_S=2`);
    // The old leader may have stored the whole stream before it died; events after the takeover are the new one's.
    await simulator.burst({ count: 50, namespace: "c" });
    await assertAllStored(pipeline);
    assert.deepEqual(await pipeline.gaps(), []);
    const fence = (await pipeline.store.readCheckpoint(CLUSTER)).fence;
    assert.deepEqual(fence, { holder: "relay-b", transitions: 1 });
  });
});

Deno.test("a deposed leader's batch is fenced (409) and nothing is lost once the new leader runs", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const old = await pipeline.startRelay("relay-a");
    await simulator.burst({ count: 100, namespace: "a" });
    await assertAllStored(pipeline);
    // relay-b takes the Lease behind relay-a's back and writes first, as a new leader would.
    const kube = await createKubeClient({ connection: { mode: "kubeconfig", path: pipeline.kubeconfigPath } });
    try {
      const lease = (await kube.getLease(LEASE))!;
      const taken = await kube.replaceLease({ ...lease, holderIdentity: "relay-b", leaseTransitions: 1 });
      const client = new HandlerClient({
        url: pipeline.handlerUrl,
        cluster: CLUSTER,
        readToken: () => Promise.resolve(TOKEN),
        retryBackoffMaxMs: 100,
        metrics: createRelayMetrics(createNoopMeter()),
        logger: createLogger({ isDebug: false, write: () => {} }),
      });
      const outcome = await client.sendBatch(
        { lines: [], bytes: 0, eventCount: 0, gapCount: 0, resumeVersion: null },
        { fence: { holder: "relay-b", transitions: taken.leaseTransitions }, signal: new AbortController().signal },
      );
      assert.equal(outcome.status, "stored");
      await simulator.burst({ count: 50, namespace: "b" });
      await waitUntil("the old leader is fenced", () => old.logs.some((l) => l.includes("handler fenced this relay")));
      assert.equal((await pipeline.storedVersions()).length, 100);
      await old.stop();
      await pipeline.startRelay("relay-b");
      await assertAllStored(pipeline);
      assert.deepEqual(await pipeline.gaps(), []);
      assert.deepEqual((await pipeline.store.readCheckpoint(CLUSTER)).fence, { holder: "relay-b", transitions: 1 });
    } finally {
      kube.close();
    }
  });
});
