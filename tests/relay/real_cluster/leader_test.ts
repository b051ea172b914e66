/**
 * Two relays elect one leader through a real coordination.k8s.io Lease: the standby takes over a leader killed with
 * SIGKILL within the lease duration, and a deposed leader's late batch is refused by the handler (409).
 */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { FAST_RELAY_ENV, waitUntil } from "../../support/pipeline.ts";
import {
  assertStoredEqual,
  collectEvents,
  createEvent,
  createNamespace,
  readLease,
  waitUntilReady,
  withRealPipeline,
} from "../../support/real_cluster.ts";

const LEASE_DURATION_MS = Number(FAST_RELAY_ENV.LEASE_DURATION_S) * 1000;
const RETRY_PERIOD_MS = Number(FAST_RELAY_ENV.LEASE_RETRY_PERIOD_S) * 1000;

controlPlaneTest(
  "relays elect one leader with a real Lease; a killed leader is replaced in time, a deposed one is fenced",
  {},
  async (plane) => {
    await withRealPipeline(plane, async (pipeline) => {
      await createNamespace(plane, "lead");
      const collector = await collectEvents(plane);
      const a = await pipeline.spawnRelay("relay-a");
      await waitUntilReady(a);
      await waitUntil("relay-a holds the Lease", async () => (await readLease(plane))?.holder === "relay-a");
      const b = await pipeline.spawnRelay("relay-b");
      await waitUntilReady(b);
      for (let i = 0; i < 10; i++) await createEvent(plane, "lead", `under-a-${i}`);
      await assertStoredEqual(pipeline, await collector.settled());
      assert.deepEqual(new Set(pipeline.batches.map((batch) => batch.holder)), new Set(["relay-a"]));
      const leaseOfA = (await readLease(plane))!;

      await a.kill("SIGKILL");
      const killedAt = performance.now();
      await waitUntil("relay-b takes the Lease", async () => (await readLease(plane))?.holder === "relay-b", 15_000);
      const takeoverMs = Math.round(performance.now() - killedAt);
      console.error(`takeover after SIGKILL of the leader: ${takeoverMs} ms (lease ${LEASE_DURATION_MS} ms)`);
      // The standby's clock starts when it last saw the Lease change: at most one retry period (+20 % jitter) after
      // the last renewal, itself at most one retry period before the kill.
      assert.ok(takeoverMs <= LEASE_DURATION_MS + 2.4 * RETRY_PERIOD_MS + 500, `takeover took ${takeoverMs} ms`);
      assert.equal((await readLease(plane))!.transitions, leaseOfA.transitions + 1);
      for (let i = 0; i < 10; i++) await createEvent(plane, "lead", `under-b-${i}`);
      await assertStoredEqual(pipeline, await collector.settled());

      // relay-b is paused past its lease while its batch is on the way; relay-c takes over and stores the events.
      const c = await pipeline.spawnRelay("relay-c");
      await waitUntilReady(c);
      const release = pipeline.holdBatchesOf("relay-b");
      for (let i = 0; i < 5; i++) await createEvent(plane, "lead", `late-${i}`);
      await waitUntil("relay-b's batch reached the handler", () => pipeline.held.includes("relay-b"));
      b.signal("SIGSTOP");
      await waitUntil("relay-c takes the Lease", async () => (await readLease(plane))?.holder === "relay-c", 15_000);
      const expected = await collector.settled();
      await assertStoredEqual(pipeline, expected);
      const cFence = (await readLease(plane))!.transitions;
      release();
      await waitUntil(
        "the handler answered relay-b's late batch",
        () => pipeline.batches.some((batch) => batch.holder === "relay-b" && batch.status !== 200),
      );
      b.signal("SIGCONT");
      const late = pipeline.batches.filter((batch) => batch.holder === "relay-b" && batch.status !== 200);
      assert.deepEqual(late.map((batch) => [batch.status, batch.transitions]), [[409, cFence - 1]]);
      for (let i = 0; i < 5; i++) await createEvent(plane, "lead", `after-${i}`);
      await collector.stop();
      await assertStoredEqual(pipeline, await collector.settled());
      await waitUntil("relay-b is a standby again", async () => (await readLease(plane))?.holder === "relay-c");

      // Once relay-c wrote, nothing from an older holder was accepted; every version was accepted exactly once.
      const firstOfC = pipeline.batches.findIndex((batch) => batch.holder === "relay-c" && batch.status === 200);
      const acceptedAfter = pipeline.batches.slice(firstOfC).filter((batch) => batch.status === 200);
      assert.deepEqual(new Set(acceptedAfter.map((batch) => batch.holder)), new Set(["relay-c"]));
      const accepted = pipeline.batches.filter((batch) => batch.status === 200).reduce((sum, b) => sum + b.accepted, 0);
      assert.equal(accepted, collector.versions().length);
      assert.deepEqual(await pipeline.gaps(), []);
    });
  },
);
