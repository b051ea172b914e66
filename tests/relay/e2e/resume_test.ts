import assert from "node:assert/strict";
import { assertAllStored, waitForCheckpoint, waitUntil, withPipeline } from "../../support/pipeline.ts";

const isList = (path: string) => path.startsWith("/api/v1/events?") && !path.includes("watch=true");
const isWatch = (path: string) => path.startsWith("/api/v1/events?") && path.includes("watch=true");

Deno.test("relay restarted gracefully resumes from the checkpoint without listing again", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 500, namespace: "a" });
    const first = await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    await waitForCheckpoint(pipeline, simulator.emittedVersions().at(-1)!.resourceVersion);
    await first.stop();
    await simulator.burst({ count: 400, namespace: "a" });
    const logStart = simulator.requestLog.length;
    await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    const eventRequests = simulator.requestLog.slice(logStart).filter((r) => r.path.startsWith("/api/v1/events?"));
    assert.equal(eventRequests.filter((r) => isList(r.path)).length, 0);
    assert.ok(isWatch(eventRequests[0]!.path), eventRequests[0]!.path);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});

Deno.test("relay killed mid-stream (SIGKILL) and restarted loses nothing and stores nothing twice", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 300, namespace: "a" });
    const victim = pipeline.spawnRelay("relay-a");
    await assertAllStored(pipeline, 30_000);
    const streaming = simulator.burst({ count: 1500, perSecond: 3000, namespace: "a" });
    await waitUntil("part of the stream is stored", async () => (await pipeline.storedVersions()).length >= 500);
    const status = await victim.kill("SIGKILL");
    assert.equal(status.signal, "SIGKILL");
    await streaming;
    await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});

Deno.test("relay restarted after its checkpoint left the watch window relists and records the gap from it", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const first = await simulator.burst({ count: 100, namespace: "a" });
    const relay = await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    await waitForCheckpoint(pipeline, first.at(-1)!.metadata.resourceVersion!);
    await relay.stop();
    const checkpoint = await pipeline.checkpoint();
    await simulator.burst({ count: 100, namespace: "a" });
    simulator.expireWatchWindow();
    await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    const gaps = await pipeline.gaps();
    assert.equal(gaps.length, 1);
    assert.deepEqual([gaps[0]!.from, gaps[0]!.reason], [checkpoint, "WATCH_EXPIRED"]);
  });
});
