import assert from "node:assert/strict";
import { assertAllStored, waitForCheckpoint, waitUntil, withPipeline } from "../../support/pipeline.ts";

const isList = (path: string) => path.startsWith("/api/v1/events?") && !path.includes("watch=true");
const isWatch = (path: string) => path.startsWith("/api/v1/events?") && path.includes("watch=true");

Deno.test("watch answered with 410 mid-stream: the relay relists and writes exactly one gap record", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const first = await simulator.burst({ count: 200, namespace: "a" });
    await pipeline.startRelay("relay-a");
    await assertAllStored(pipeline);
    await waitForCheckpoint(pipeline, first.at(-1)!.metadata.resourceVersion!);
    // Bookmarks are off, so the relay's position stays at its checkpoint (the list's version) until the gap.
    const before = await pipeline.checkpoint();
    simulator.stallWatches(1_500);
    const missed = await simulator.burst({ count: 100, namespace: "a" });
    simulator.expireWatchWindow();
    const expiredAt = Number(simulator.resourceVersion);
    simulator.closeWatches();
    await assertAllStored(pipeline);
    const gaps = await pipeline.gaps();
    assert.equal(gaps.length, 1);
    assert.deepEqual([gaps[0]!.from, gaps[0]!.reason], [before, "WATCH_EXPIRED"]);
    // The gap closes at the relist's version: after the missed events, and no later than now.
    assert.ok(Number(gaps[0]!.to) >= Number(missed.at(-1)!.metadata.resourceVersion), gaps[0]!.to);
    assert.ok(
      Number(gaps[0]!.to) >= expiredAt && Number(gaps[0]!.to) <= Number(simulator.resourceVersion),
      gaps[0]!.to,
    );
    assert.equal(simulator.requestLog.filter((r) => isList(r.path) && !r.path.includes("continue=")).length, 2);
  }, { simulator: { bookmarkIntervalMs: 60_000 } });
});

Deno.test("watch closed by the server repeatedly: the relay reconnects from where it was, no list, no gap", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await pipeline.startRelay("relay-a");
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => isWatch(r.path)));
    const watches = () => simulator.requestLog.filter((r) => isWatch(r.path)).length;
    for (let round = 0; round < 10; round++) {
      await simulator.burst({ count: 50, namespace: `ns${round}` });
      const before = watches();
      simulator.closeWatches();
      // Each close must meet an open watch, however long the relay takes to reconnect on a loaded machine.
      await waitUntil(`the relay watches again after close ${round + 1}`, () => watches() > before);
    }
    await assertAllStored(pipeline);
    assert.equal(simulator.requestLog.filter((r) => isList(r.path)).length, 1);
    assert.ok(watches() >= 11, `a watch for each of the 10 closes, and the first (${watches()})`);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});

Deno.test("watch requests failing with 500 are retried with backoff until they succeed", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    simulator.injectErrors({ method: "GET", pathPattern: /watch=true/, status: 500, times: 5 });
    await simulator.burst({ count: 100, namespace: "a" });
    await pipeline.startRelay("relay-a");
    const failed = () => simulator.requestLog.filter((r) => isWatch(r.path) && r.status === 500).length;
    await waitUntil("five watch requests have failed", () => failed() === 5);
    await simulator.burst({ count: 100, namespace: "b" });
    await assertAllStored(pipeline);
    assert.equal(failed(), 5);
    assert.equal(simulator.requestLog.filter((r) => isList(r.path)).length, 1);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});

Deno.test("watch refused with 403: not ready with the refusal, one error line, ready again once allowed", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    simulator.injectErrors({ method: "GET", pathPattern: /watch=true/, status: 403, times: 8 });
    await simulator.burst({ count: 50, namespace: "a" });
    const relay = await pipeline.startRelay("relay-a");
    const refused = () => simulator.requestLog.filter((r) => isWatch(r.path) && r.status === 403).length;
    await waitUntil("the relay reports the refusal", () => !relay.relay.health.readiness().isReady && refused() > 0);
    assert.match(
      relay.relay.health.readiness().reason,
      /^leader, the API server refuses events: Cannot GET [^ ]+: 403 /,
    );
    await waitUntil("eight watch requests were refused", () => refused() === 8, 30_000);
    await assertAllStored(pipeline);
    await waitUntil("the leader is ready again", () => relay.relay.health.readiness().isReady);
    const errors = relay.logs.map((line) => JSON.parse(line)).filter((line) => line.level === "error");
    assert.deepEqual(errors.map((line) => line.msg), [
      "Cannot collect events: the API server refuses to list or watch them; retrying",
    ]);
    assert.ok(relay.logs.some((line) => line.includes("the API server lets the relay list and watch events again")));
  });
});

Deno.test("a storm of 3000 MODIFIED versions of one event stores every version once (STORM_CONTROL=off)", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    // 3.3 MB of versions may back the queue up past half, where storm control would merge them (storm_control_test).
    await pipeline.startRelay("relay-a", { STORM_CONTROL: "off" });
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => isWatch(r.path)));
    const versions = await simulator.crashLoopStorm({ namespace: "a", pod: "crashy", modifications: 3000 });
    assert.equal(versions.length, 3001);
    await assertAllStored(pipeline);
    assert.equal((await pipeline.storedVersions()).length, 3001);
  });
});

Deno.test("a watch silent for WATCH_IDLE_TIMEOUT_S is opened again from its position: no list, no gap, nothing lost", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 50, namespace: "a" });
    pipeline.startRelay("relay-a", { WATCH_IDLE_TIMEOUT_S: "1" });
    await assertAllStored(pipeline);
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => isWatch(r.path)));
    const watchesBefore = simulator.requestLog.filter((r) => isWatch(r.path)).length;
    // Watches send nothing for 4 s, not even a bookmark, as through a NAT that dropped the connection silently.
    simulator.stallWatches(4_000);
    await simulator.burst({ count: 50, namespace: "b" });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const reopened = simulator.requestLog.filter((r) => isWatch(r.path)).length - watchesBefore;
    assert.ok(reopened >= 2, `a silent watch is given up after 1 s and opened again (${reopened} times in 4 s)`);
    await assertAllStored(pipeline);
    assert.equal(simulator.requestLog.filter((r) => isList(r.path)).length, 1);
    assert.deepEqual(await pipeline.gaps(), []);
  }, { simulator: { bookmarkIntervalMs: 60_000 } });
});
