/**
 * A handler that stays slow for minutes: the relay (a child process, run as shipped) keeps only its bounded queue
 * while events pile up on the API server, its memory does not grow with the backlog, and once the handler is fast
 * again every event is stored once, with no gap.
 */
import assert from "node:assert/strict";
import { assertAllStored, waitUntil, withPipeline } from "../../support/pipeline.ts";

const MIB = 1024 * 1024;
/** How long the handler stays slow. */
const SLOW_MS = 120_000;
/** Events the cluster writes per second meanwhile: ten times what the slow handler lets through. */
const EVENTS_PER_S = 400;
/** Samples before this are the relay filling its queue; growth is measured from here. */
const SETTLED_MS = 20_000;

Deno.test("a handler slow for two minutes: the relay's memory stays bounded and nothing is lost once it recovers", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = pipeline.spawnRelay("relay-a", {
      QUEUE_BYTES_MAX: String(1 * MIB),
      BATCH_RECORDS_MAX: "40",
      BATCH_BYTES_MAX: String(64 * 1024),
    });
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => r.path.includes("watch=true")), 30_000);
    // 40 records a second at most: a batch of 40 answered after one second.
    pipeline.setHandlerMode({ kind: "slow", delayMs: 1_000 });
    const count = EVENTS_PER_S * SLOW_MS / 1000;
    const writing = simulator.burst({ count, perSecond: EVENTS_PER_S, namespace: "a" });
    const started = Date.now();
    let settledRss: number | undefined;
    let laterRssMax = 0;
    while (Date.now() - started < SLOW_MS) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const rss = relay.rssBytes();
      assert.ok(rss !== undefined, "the relay exited while the handler was slow");
      if (Date.now() - started < SETTLED_MS) continue;
      settledRss ??= rss;
      laterRssMax = Math.max(laterRssMax, rss);
    }
    const written = await writing;
    const storedWhileSlow = (await pipeline.storedVersions()).length;
    assert.ok(storedWhileSlow < count / 4, `${storedWhileSlow} of ${count} stored: the handler was not slow`);
    // The backlog waits on the API server, not in the relay: holding it would take the relay at least this much more.
    const backlogBytes = written.slice(storedWhileSlow).reduce((sum, event) => sum + JSON.stringify(event).length, 0);
    assert.ok(backlogBytes > 32 * MIB, `a backlog of only ${(backlogBytes / MIB).toFixed(1)} MiB proves nothing`);
    const growth = laterRssMax - settledRss!;
    assert.ok(
      growth < 16 * MIB,
      `relay RSS grew ${(growth / MIB).toFixed(1)} MiB (from ${(settledRss! / MIB).toFixed(1)}) while slow`,
    );
    assert.ok(laterRssMax < 128 * MIB, `relay RSS reached ${(laterRssMax / MIB).toFixed(1)} MiB`);
    // Catching up reads the backlog off the watch as fast as the handler takes it: memory stays bounded there too.
    pipeline.setHandlerMode({ kind: "ok" });
    let catchUpRssMax = 0;
    const sampler = setInterval(() => catchUpRssMax = Math.max(catchUpRssMax, relay.rssBytes() ?? 0), 250);
    try {
      await assertAllStored(pipeline, 120_000);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(relay.rssBytes() !== undefined, "the relay exited while catching up");
    assert.ok(catchUpRssMax < 128 * MIB, `relay RSS reached ${(catchUpRssMax / MIB).toFixed(1)} MiB while catching up`);
    assert.deepEqual(await pipeline.gaps(), []);
  }, { simulator: { watchWindowSize: 100_000 } });
});
