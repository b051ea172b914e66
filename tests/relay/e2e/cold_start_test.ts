import assert from "node:assert/strict";
import { assertAllStored, waitForCheckpoint, waitUntil, withPipeline } from "../../support/pipeline.ts";

Deno.test("relay cold start lists every live event, then watches new ones; no gap record", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.podLifecycle({ namespace: "shop", deployment: "web", replicas: 3 });
    await simulator.burst({ count: 1200, namespace: "batch" });
    const relay = await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    await simulator.crashLoopStorm({ namespace: "shop", pod: "web-crash", modifications: 20 });
    await simulator.burst({ count: 300, namespace: "batch" });
    await assertAllStored(pipeline);
    await waitForCheckpoint(pipeline, simulator.emittedVersions().at(-1)!.resourceVersion);
    assert.deepEqual(await pipeline.gaps(), []);
    assert.deepEqual(relay.relay.health.readiness(), { isReady: true, reason: "leader, watch active" });
  });
});

Deno.test("relay enriches events: the composition label of the involved object lands in composition_id", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const compositionId = "3f2b8c1e-5d4a-4e6f-8a9b-0c1d2e3f4a5b";
    const events = await simulator.podLifecycle({
      namespace: "krateo",
      deployment: "fireworks",
      replicas: 2,
      labels: { "krateo.io/composition-id": compositionId },
    });
    const unrelated = simulator.createEvent({ involvedObject: { apiVersion: "v1", kind: "Node", name: "gone" } });
    await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    const rows = await pipeline.sql.unsafe<{ uid: string; composition_id: string | null }[]>(
      `select uid, composition_id from "${pipeline.schema}".k8s_events order by uid`,
    );
    const withComposition = rows.filter((r) => r.composition_id === compositionId).map((r) => r.uid).sort();
    assert.deepEqual(withComposition, [...new Set(events.map((e) => e.metadata.uid!))].sort());
    assert.deepEqual(rows.filter((r) => r.composition_id === null).map((r) => r.uid), [unrelated.metadata.uid]);
  });
});

Deno.test("a leader whose watch delivers nothing for WATCH_IDLE_MAX_S is not ready, and is again after", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = await pipeline.startRelay("relay-a", { WATCH_IDLE_MAX_S: "1" });
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => r.path.includes("watch=true")));
    await waitUntil("the leader is ready", () => relay.relay.health.readiness().isReady);
    simulator.stallWatches(2_500);
    await waitUntil("the leader is not ready", () => !relay.relay.health.readiness().isReady, 5_000);
    assert.deepEqual(relay.relay.health.readiness(), {
      isReady: false,
      reason: "leader, watch idle for more than 1 s",
    });
    await waitUntil("the leader is ready again", () => relay.relay.health.readiness().isReady, 10_000);
  }, { simulator: { bookmarkIntervalMs: 200 } });
});
