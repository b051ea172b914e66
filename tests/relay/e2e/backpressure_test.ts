import assert from "node:assert/strict";
import { assertAllStored, waitUntil, withPipeline } from "../../support/pipeline.ts";

const QUEUE_BYTES_MAX = 256 * 1024;

Deno.test("a slow handler fills the bounded queue, the relay stops reading the watch, and catches up after", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = await pipeline.startRelay("relay-a", {
      QUEUE_BYTES_MAX: String(QUEUE_BYTES_MAX),
      BATCH_BYTES_MAX: "65536",
      BATCH_RECORDS_MAX: "50",
    });
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => r.path.includes("watch=true")));
    pipeline.setHandlerMode({ kind: "slow", delayMs: 300 });
    await simulator.burst({ count: 4000, namespace: "a" });
    let queueBytesPeak = 0;
    let queuedWhileFull = Infinity;
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      const bytes = relay.queueBytes();
      queueBytesPeak = Math.max(queueBytesPeak, bytes);
      if (bytes > QUEUE_BYTES_MAX / 2) queuedWhileFull = Math.min(queuedWhileFull, relay.eventsQueued());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const eventBytesMax = 2_048;
    assert.ok(queueBytesPeak <= QUEUE_BYTES_MAX + eventBytesMax, `queue peaked at ${queueBytesPeak} bytes`);
    assert.ok(queueBytesPeak > QUEUE_BYTES_MAX / 2, `queue peaked at only ${queueBytesPeak} bytes`);
    assert.ok(queuedWhileFull < 4000, "the relay kept reading the watch while its queue was full");
    pipeline.setHandlerMode({ kind: "ok" });
    await assertAllStored(pipeline, 60_000);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});
