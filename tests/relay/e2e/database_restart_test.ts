import assert from "node:assert/strict";
import { startEmbeddedDatabase } from "../../../handler/dev/embedded_database.ts";
import { assertAllStored, waitUntil, withPipeline } from "../../support/pipeline.ts";

Deno.test("database restarted during ingest: the handler answers 503, the relay retries, nothing is lost", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "relay-e2e-pg-" });
  let database = await startEmbeddedDatabase({ dataDir, isPersistent: true });
  try {
    await withPipeline(async (pipeline) => {
      const { simulator } = pipeline;
      const relay = await pipeline.startRelay("relay-a");
      await simulator.burst({ count: 300, namespace: "a" });
      await assertAllStored(pipeline);
      const streaming = simulator.burst({ count: 2000, perSecond: 1000, namespace: "b" });
      await waitUntil("part of the stream is stored", async () => (await pipeline.storedVersions()).length >= 600);
      const port = database.port;
      await database.stop();
      await waitUntil("the relay sees the outage", () => relay.logs.some((l) => l.includes('"reason":"503"')), 30_000);
      database = await startEmbeddedDatabase({ dataDir, isPersistent: true, port });
      await streaming;
      await assertAllStored(pipeline, 60_000);
      assert.deepEqual(await pipeline.gaps(), []);
    }, { databaseUrl: database.url });
  } finally {
    await database.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
