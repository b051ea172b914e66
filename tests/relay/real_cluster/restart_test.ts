/** A relay killed with SIGKILL mid-stream and started again resumes from the handler's checkpoint. */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { waitUntil } from "../../support/pipeline.ts";
import {
  assertStoredEqual,
  collectEvents,
  createEvent,
  createNamespace,
  readRelayMetric,
  waitUntilReady,
  withRealPipeline,
} from "../../support/real_cluster.ts";

const EVENTS = 240;

controlPlaneTest(
  "relay killed with SIGKILL mid-stream and restarted resumes from the checkpoint: nothing lost, no relist, no gap",
  {},
  async (plane) => {
    await withRealPipeline(plane, async (pipeline) => {
      await createNamespace(plane, "stream");
      const collector = await collectEvents(plane);
      const first = await pipeline.spawnRelay("relay-0");
      await waitUntilReady(first);
      let createdCount = 0;
      const creating = (async () => {
        for (let i = 0; i < EVENTS; i += 4) {
          await Promise.all([0, 1, 2, 3].map((j) => createEvent(plane, "stream", `e-${i + j}`)));
          createdCount += 4;
        }
      })();
      await waitUntil("part of the stream is stored", async () => (await pipeline.storedVersions()).length >= 60);
      await first.kill("SIGKILL");
      const storedAtKill = (await pipeline.storedVersions()).length;
      const checkpoint = await pipeline.checkpoint();
      assert.notEqual(checkpoint, null);
      await creating;
      assert.ok(storedAtKill < EVENTS, `killed after ${storedAtKill} of ${createdCount} were stored`);

      const second = await pipeline.spawnRelay("relay-0");
      await collector.stop();
      const expected = await collector.settled();
      assert.equal(expected.length, EVENTS);
      await assertStoredEqual(pipeline, expected);
      await waitUntilReady(second);
      assert.equal(await readRelayMetric(second, "events_ingester.relay.relists"), 0, "resumed by watch, no relist");
      assert.deepEqual(await pipeline.gaps(), []);
      const accepted = pipeline.batches.filter((b) => b.status === 200).reduce((sum, b) => sum + b.accepted, 0);
      assert.equal(accepted, EVENTS, "every version accepted once, none twice");
    });
  },
);
