/**
 * A crash-looping Deployment's event storm against a handler that drains far slower than the storm arrives, with a
 * watch window the storm outgrows in a fraction of its length: with storm control the relay keeps reading the watch
 * and stores every event's final count without a gap; without it (STORM_CONTROL=off) the paused watch falls out of
 * the window and the relay has to relist and write a gap record.
 */
import assert from "node:assert/strict";
import type { EventStormResult } from "../../../relay/simulator/scenarios/scenarios.ts";
import {
  CLUSTER,
  type InProcessRelay,
  type Pipeline,
  waitForCheckpoint,
  waitUntil,
  withPipeline,
} from "../../support/pipeline.ts";

/**
 * 40 events (messages with 3 KB of probe output) bumped 500 times a second in total for 10 s: about 5,000 versions.
 * The handler answers each batch (at most 64 KiB: about 20 records) after 400 ms, so it drains about 50 records a
 * second, and the watch window holds 1,000 changes. Without storm control the relay falls behind by about 450
 * versions a second and leaves the window well before the storm ends (socket buffers hold a few hundred of these
 * versions at most). With storm control the relay only has to parse what the storm writes, 500 versions a second,
 * which it does with room to spare even on a loaded 2-core machine (measured: at most about 100 versions behind with
 * a load average of 15). The queue (256 KiB) holds every event of the storm in its first half.
 */
const STORM = {
  namespace: "storm",
  deployment: "crashy",
  events: 40,
  bumpsPerSecond: 500,
  durationMs: 10_000,
  probeOutputBytes: 3_000,
};
const SIMULATOR = { watchWindowSize: 1_000 };
const RELAY_ENV = { QUEUE_BYTES_MAX: "262144", BATCH_RECORDS_MAX: "50", BATCH_BYTES_MAX: "65536" };

interface StoredVersion {
  uid: string;
  count: number;
  replacedVersions: number | null;
}

async function readStored(pipeline: Pipeline): Promise<StoredVersion[]> {
  return await pipeline.sql.unsafe<StoredVersion[]>(
    `select uid, (raw->>'count')::int as count, (raw->>'replacedVersions')::int as "replacedVersions"
       from "${pipeline.schema}".k8s_events where cluster_name = $1`,
    [CLUSTER],
  );
}

/** The highest stored count of each event. */
function storedFinalCounts(stored: StoredVersion[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of stored) counts.set(row.uid, Math.max(counts.get(row.uid) ?? 0, row.count));
  return counts;
}

/** How many versions of each event the simulator wrote. */
function emittedPerEvent(pipeline: Pipeline): Map<string, number> {
  const versions = new Map<string, number>();
  for (const { uid } of pipeline.simulator.emittedVersions()) versions.set(uid, (versions.get(uid) ?? 0) + 1);
  return versions;
}

/** Runs the storm against a slow handler, then lets the handler catch up until every final count is stored. */
async function runStorm(
  pipeline: Pipeline,
  env: Record<string, string>,
): Promise<{ storm: EventStormResult; relay: InProcessRelay; stored: StoredVersion[] }> {
  const { simulator } = pipeline;
  const relay = await pipeline.startRelay("relay-a", { ...RELAY_ENV, ...env });
  await waitUntil("the relay watches", () => simulator.requestLog.some((r) => r.path.includes("watch=true")));
  pipeline.setHandlerMode({ kind: "slow", delayMs: 400 });
  const startedAt = performance.now();
  const storm = await simulator.eventStorm(STORM);
  const stormMs = performance.now() - startedAt;
  pipeline.setHandlerMode({ kind: "ok" });
  const finalCounts = new Map(storm.events.map((event) => [event.metadata.uid!, event.count!]));
  let stored: StoredVersion[] = [];
  await waitUntil("every event's final count is stored", async () => {
    stored = await readStored(pipeline);
    const counts = storedFinalCounts(stored);
    return [...finalCounts].every(([uid, count]) => counts.get(uid) === count);
  }, 30_000);
  console.log(
    `storm: ${storm.versions} versions in ${stormMs.toFixed(0)} ms, ${stored.length} rows stored, ` +
      `${relay.versionsReplaced()} versions replaced, ${(await pipeline.gaps()).length} gap records`,
  );
  return { storm, relay, stored };
}

Deno.test("storm control keeps up with an event storm: no gap, and every version is stored or counted", async () => {
  await withPipeline(async (pipeline) => {
    const { storm, relay, stored } = await runStorm(pipeline, { STORM_CONTROL: "on" });
    assert.deepEqual(await pipeline.gaps(), []);
    const lists = pipeline.simulator.requestLog.filter((r) =>
      r.path.startsWith("/api/v1/events?") && !r.path.includes("watch=true")
    );
    assert.equal(lists.length, 1, "the relay listed only once, at its start");
    // Each event's final count is stored (waited for above) and nothing higher was invented.
    assert.deepEqual(
      storedFinalCounts(stored),
      new Map(storm.events.map((event) => [event.metadata.uid!, event.count!])),
    );
    // Every version the API server wrote is either a stored row or counted in the row that replaced it.
    const accounted = new Map<string, number>();
    for (const row of stored) accounted.set(row.uid, (accounted.get(row.uid) ?? 0) + 1 + (row.replacedVersions ?? 0));
    assert.deepEqual(accounted, emittedPerEvent(pipeline));
    const replaced = stored.reduce((sum, row) => sum + (row.replacedVersions ?? 0), 0);
    assert.equal(replaced, relay.versionsReplaced());
    assert.ok(replaced > storm.versions / 2, `only ${replaced} of ${storm.versions} versions were replaced`);
    // The resume point follows the watch through the storm: a restart now would not read the storm again.
    const lastVersion = Math.max(...storm.events.map((event) => Number(event.metadata.resourceVersion)));
    await waitForCheckpoint(pipeline, String(lastVersion));
  }, { simulator: SIMULATOR });
});

Deno.test("without storm control (STORM_CONTROL=off) the same storm outlasts the watch window: a gap record", async () => {
  await withPipeline(async (pipeline) => {
    const { storm, relay, stored } = await runStorm(pipeline, { STORM_CONTROL: "off" });
    const gaps = await pipeline.gaps();
    assert.ok(gaps.length >= 1, "the paused watch fell out of the window");
    assert.deepEqual(new Set(gaps.map((gap) => gap.reason)), new Set(["WATCH_EXPIRED"]));
    assert.equal(relay.versionsReplaced(), 0);
    assert.equal(stored.filter((row) => row.replacedVersions !== null).length, 0);
    // Versions that expired unseen are missing: what the gap record says.
    assert.ok(stored.length < storm.versions, `${stored.length} rows for ${storm.versions} versions`);
    assert.deepEqual(
      storedFinalCounts(stored),
      new Map(storm.events.map((event) => [event.metadata.uid!, event.count!])),
    );
  }, { simulator: SIMULATOR });
});

Deno.test("storm control merges 3,000 versions of one event written at once without losing or inventing one", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const relay = await pipeline.startRelay("relay-a", { ...RELAY_ENV, STORM_CONTROL: "on" });
    await waitUntil("the relay watches", () => simulator.requestLog.some((r) => r.path.includes("watch=true")));
    const versions = await simulator.crashLoopStorm({ namespace: "a", pod: "crashy", modifications: 3_000 });
    let stored: StoredVersion[] = [];
    await waitUntil("the final count is stored", async () => {
      stored = await readStored(pipeline);
      return stored.some((row) => row.count === 3_001);
    });
    // 3.3 MB of versions through a 256 KiB queue: most are merged, each into the next newer one.
    const replaced = stored.reduce((sum, row) => sum + (row.replacedVersions ?? 0), 0);
    assert.equal(stored.length + replaced, versions.length);
    assert.equal(replaced, relay.versionsReplaced());
    assert.ok(replaced > 0, "the queue backed up and storm control merged versions");
    assert.equal(new Set(stored.map((row) => row.count)).size, stored.length, "each stored count once");
    assert.deepEqual(await pipeline.gaps(), []);
  });
});
