import assert from "node:assert/strict";
import { assertAllStored, waitUntil, withPipeline } from "../../support/pipeline.ts";

Deno.test("handler answering 503 for a while: the relay retries and everything arrives once", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = await pipeline.startRelay("relay-a");
    await simulator.burst({ count: 200, namespace: "a" });
    await assertAllStored(pipeline);
    pipeline.setHandlerMode({ kind: "unavailable" });
    await simulator.burst({ count: 500, namespace: "b" });
    await waitUntil("the relay has retried", () => relay.logs.filter((l) => l.includes('"reason":"503"')).length >= 3);
    assert.equal((await pipeline.storedVersions()).length, 200);
    pipeline.setHandlerMode({ kind: "ok" });
    await assertAllStored(pipeline);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});

Deno.test("handler unreachable for a while (connection refused): the relay retries until it is back", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = await pipeline.startRelay("relay-a");
    await simulator.burst({ count: 200, namespace: "a" });
    await assertAllStored(pipeline);
    await pipeline.stopHandler();
    await simulator.burst({ count: 500, namespace: "b" });
    await waitUntil(
      "the relay has retried",
      () => relay.logs.filter((l) => l.includes('"reason":"NETWORK"')).length >= 3,
    );
    assert.equal((await pipeline.storedVersions()).length, 200);
    pipeline.startHandler();
    await assertAllStored(pipeline);
    assert.deepEqual(await pipeline.gaps(), []);
  });
});
