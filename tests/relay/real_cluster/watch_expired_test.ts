/**
 * The watch window really lost: Events expired by --event-ttl and etcd compacted past the stored resume point while
 * the relay was down. The relay gets 410 from the real server, relists, and records the gap.
 */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { waitUntil } from "../../support/pipeline.ts";
import {
  assertStoredEqual,
  collectEvents,
  createEvent,
  createNamespace,
  type EventObject,
  liveVersions,
  readRelayMetric,
  waitUntilReady,
  withRealPipeline,
} from "../../support/real_cluster.ts";

const EVENT_TTL_S = 4;

controlPlaneTest(
  "relay restarted after its resume point was compacted away gets 410, relists and records exactly one gap",
  { eventTtlS: EVENT_TTL_S },
  async (plane) => {
    await withRealPipeline(plane, async (pipeline) => {
      await createNamespace(plane, "window");
      const collector = await collectEvents(plane);
      const first = await pipeline.spawnRelay("relay-0");
      await waitUntilReady(first);
      const before: EventObject[] = [];
      for (let i = 0; i < 5; i++) before.push(await createEvent(plane, "window", `before-${i}`));
      await assertStoredEqual(pipeline, await collector.settled());
      await waitUntil("the checkpoint covers the stored events", async () => (await pipeline.checkpoint()) !== null);
      await first.kill("SIGTERM");
      const checkpoint = await pipeline.checkpoint();

      const expired: EventObject[] = [];
      for (let i = 0; i < 5; i++) expired.push(await createEvent(plane, "window", `expired-${i}`));
      await waitUntil("the Events written while the relay was down expired", async () => {
        const live = await liveVersions(plane);
        return !live.some((v) => expired.some((e) => e.metadata.uid === v.uid));
      }, EVENT_TTL_S * 1000 + 20_000);
      const survivors: EventObject[] = [];
      for (let i = 0; i < 5; i++) survivors.push(await createEvent(plane, "window", `survivor-${i}`));
      const revision = await plane.compactEtcd();
      assert.ok(revision > Number(checkpoint) + 1, `compacted at ${revision}, resume point ${checkpoint}`);
      const live = await liveVersions(plane);

      const second = await pipeline.spawnRelay("relay-0");
      await waitUntil("the gap is recorded", async () => (await pipeline.gaps()).length > 0);
      await waitUntil("every live Event is stored", async () => {
        const stored = new Set((await pipeline.storedVersions()).map((v) => `${v.uid}|${v.resourceVersion}`));
        return live.every((v) => stored.has(`${v.uid}|${v.resourceVersion}`));
      });
      await waitUntilReady(second);
      await collector.stop();
      const gaps = await pipeline.gaps();
      assert.equal(gaps.length, 1);
      assert.deepEqual([gaps[0]!.from, gaps[0]!.reason], [checkpoint, "WATCH_EXPIRED"]);
      assert.ok(Number(gaps[0]!.to) >= revision, `gap to ${gaps[0]!.to}, compacted at ${revision}`);
      assert.equal(await readRelayMetric(second, "events_ingester.relay.relists"), 1);
      assert.equal(await readRelayMetric(second, "events_ingester.relay.gap_records"), 1);
      // Stored: what the first relay saw, and the survivors; never an expired one, nothing the server did not hold.
      const expiredUids = new Set(expired.map((e) => e.metadata.uid));
      const stored = await pipeline.storedVersions();
      assert.deepEqual(stored.filter((v) => expiredUids.has(v.uid)), []);
      const expected = (await collector.settled()).filter((v) => !expiredUids.has(v.uid));
      assert.equal(expected.length, before.length + survivors.length);
      await assertStoredEqual(pipeline, expected);
    });
  },
);
