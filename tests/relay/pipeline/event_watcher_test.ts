import assert from "node:assert/strict";
import { KubeApiError } from "../../../relay/kube/kube_api.ts";
import { ByteQueue } from "../../../relay/pipeline/byte_queue.ts";
import { type EventWatcherOptions, runEventWatcher } from "../../../relay/pipeline/event_watcher.ts";
import type { QueueItem } from "../../../relay/pipeline/queue_item.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import {
  createCountingMetrics,
  createFakeKube,
  drainQueue,
  type FakeKube,
  type FakeKubeScript,
  toEvent,
} from "../../support/fake_kube.ts";

const NOW_MS = Date.UTC(2026, 11, 3, 12, 0, 0);

/** The watcher's options for tests: cluster c1, all namespaces, a silent logger and the fixed clock; `overrides` win. */
function toWatcherOptions(
  fake: FakeKube,
  queue: ByteQueue<QueueItem>,
  overrides: Partial<EventWatcherOptions> = {},
): EventWatcherOptions {
  return {
    kube: fake.kube,
    queue,
    cluster: "c1",
    namespaces: [],
    readResumeVersion: () => Promise.resolve(null),
    onActivity: () => {},
    metrics: createCountingMetrics().metrics,
    logger: createLogger({ isDebug: false, write: () => {} }),
    backoffMaxMs: 30_000,
    now: () => NOW_MS,
    ...overrides,
  };
}

/**
 * Runs the watcher against `script` until watch number `untilWatch` is idle, then stops it and returns what it
 * queued, its counters, the fake's calls and the waits it asked for.
 */
async function watchUntil(
  script: FakeKubeScript,
  options: { untilWatch: number; resumeVersion?: string | null; namespaces?: string[] },
) {
  const fake = createFakeKube(script);
  const queue = new ByteQueue<QueueItem>({ bytesMax: 1024 * 1024 });
  const { counts, metrics } = createCountingMetrics();
  const waits: number[] = [];
  let activity = 0;
  const controller = new AbortController();
  const watcherOptions = toWatcherOptions(fake, queue, {
    namespaces: options.namespaces ?? [],
    readResumeVersion: () => Promise.resolve(options.resumeVersion ?? null),
    onActivity: () => activity++,
    metrics,
    delay: (ms, signal) => {
      waits.push(ms);
      return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
    },
    random: () => 0.5,
  });
  const running = runEventWatcher(watcherOptions, controller.signal);
  await fake.watchIdle(options.untilWatch);
  controller.abort(new Error("shutdown"));
  await running;
  return { queued: drainQueue(queue), counts, fake, waits, activity };
}

const positions = (fake: FakeKube) => fake.watchCalls.map((call) => call.resourceVersion);

Deno.test("runEventWatcher resumes from the handler's checkpoint without listing", async () => {
  const { queued, fake, counts, activity } = await watchUntil({
    watches: [[
      { type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" },
      { type: "BOOKMARK", resourceVersion: "102" },
      { type: "MODIFIED", object: toEvent("u1", "103"), resourceVersion: "103" },
      { type: "DELETED", object: toEvent("u1", "104"), resourceVersion: "104" },
    ]],
  }, { untilWatch: 0, resumeVersion: "100" });
  assert.deepEqual(fake.listCalls, []);
  assert.deepEqual(positions(fake), ["100"]);
  assert.deepEqual(queued, [
    ["event", "u1", "101", "101"],
    ["mark", "102"],
    ["event", "u1", "103", "103"],
    ["mark", "104"],
  ]);
  assert.deepEqual(counts, { eventsReceived: 2, eventsDispatched: 2, bookmarks: 1 });
  assert.equal(activity, 4);
});

Deno.test("runEventWatcher lists every page first when there is no checkpoint, then watches from the list", async () => {
  const { queued, fake, counts } = await watchUntil({
    lists: [[[toEvent("u1", "5"), toEvent("u2", "6")], [toEvent("u3", "7")]]],
    listVersions: ["50"],
  }, { untilWatch: 0 });
  assert.deepEqual(fake.listCalls, [
    { namespace: undefined, limit: 500, continueToken: undefined },
    { namespace: undefined, limit: 500, continueToken: "1" },
  ]);
  assert.deepEqual(queued, [
    ["event", "u1", "5", null],
    ["event", "u2", "6", null],
    ["event", "u3", "7", null],
    ["mark", "50"],
  ]);
  assert.deepEqual(positions(fake), ["50"]);
  assert.deepEqual(fake.watchCalls[0], {
    namespace: undefined,
    resourceVersion: "50",
    timeoutS: 338,
    idleTimeoutMs: 330_000,
  });
  assert.deepEqual(counts, { relists: 1, eventsReceived: 3, eventsDispatched: 3 });
});

Deno.test("runEventWatcher relists at once after 410 Gone and queues a gap from the last position", async () => {
  const gone = new KubeApiError("Cannot continue the watch: too old", { status: 410, reason: "Expired" });
  const { queued, fake, counts, waits } = await watchUntil({
    lists: [[[toEvent("u1", "101"), toEvent("u2", "150")]]],
    listVersions: ["200"],
    watches: [[{ type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" }, { error: gone }]],
  }, { untilWatch: 1, resumeVersion: "100" });
  assert.deepEqual(positions(fake), ["100", "200"]);
  assert.deepEqual(queued, [
    ["event", "u1", "101", "101"],
    ["gap", "101", "200"],
    ["event", "u2", "150", null],
    ["mark", "200"],
  ]);
  assert.deepEqual(waits, []);
  assert.deepEqual(counts, {
    eventsReceived: 3,
    eventsDispatched: 2,
    "eventsDropped{same_resource_version}": 1,
    gapRecords: 1,
    relists: 1,
    watchReconnects: 1,
  });
});

Deno.test("runEventWatcher backs off after a 410 repeated before anything was delivered", async () => {
  const gone = () => ({
    error: new KubeApiError("Cannot continue the watch: too old", { status: 410, reason: "Expired" }),
  });
  const { fake, waits, counts } = await watchUntil({
    listVersions: ["200", "300", "400"],
    watches: [[gone()], [gone()], [gone()]],
  }, { untilWatch: 3, resumeVersion: "100" });
  assert.deepEqual(positions(fake), ["100", "200", "300", "400"]);
  // The first 410 relists at once; each next one before anything was delivered waits a growing backoff:
  // 0.5 (random) * 200 ms, then 0.5 * 400 ms.
  assert.deepEqual(waits, [100, 200]);
  assert.equal(counts.relists, 3);
  assert.equal(counts.gapRecords, 3);
});

Deno.test("runEventWatcher reconnects from its last position after a jittered backoff when a watch fails", async () => {
  const failed = new KubeApiError("Cannot GET /api/v1/events: 500 etcd timeout", {
    status: 500,
    reason: "InternalError",
  });
  const { queued, fake, waits } = await watchUntil({
    watches: [
      [{ type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" }, { error: failed }],
      [{ error: failed }],
      [{ error: failed }],
    ],
  }, { untilWatch: 3, resumeVersion: "100" });
  assert.deepEqual(positions(fake), ["100", "101", "101", "101"]);
  assert.deepEqual(waits, [100, 200, 400]);
  assert.deepEqual(queued, [["event", "u1", "101", "101"]]);
});

Deno.test("runEventWatcher watches again at once after a stream that delivered, and backs off after one that did not", async () => {
  const { fake, waits, counts } = await watchUntil({
    watches: [[{ type: "BOOKMARK", resourceVersion: "105" }, { end: true }], [{ end: true }], [{ end: true }]],
  }, { untilWatch: 3, resumeVersion: "100" });
  assert.deepEqual(positions(fake), ["100", "105", "105", "105"]);
  assert.deepEqual(waits, [100, 200]);
  assert.equal(counts.watchReconnects, 3);
});

Deno.test("runEventWatcher queues a version seen again only as its resume point", async () => {
  const { queued, counts } = await watchUntil({
    watches: [[
      { type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" },
      { type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" },
    ]],
  }, { untilWatch: 0, resumeVersion: "100" });
  assert.deepEqual(queued, [["event", "u1", "101", "101"], ["mark", "101"]]);
  assert.equal(counts["eventsDropped{same_resource_version}"], 1);
});

Deno.test("runEventWatcher keeps only the wanted namespaces of the cluster-wide watch", async () => {
  const { queued, fake, counts } = await watchUntil({
    watches: [[
      { type: "ADDED", object: toEvent("u1", "101", "a"), resourceVersion: "101" },
      { type: "ADDED", object: toEvent("u2", "102", "other"), resourceVersion: "102" },
      { type: "ADDED", object: toEvent("u3", "103", "b"), resourceVersion: "103" },
    ]],
  }, { untilWatch: 0, resumeVersion: "100", namespaces: ["a", "b"] });
  assert.equal(fake.watchCalls[0]!.namespace, undefined);
  assert.deepEqual(queued, [["event", "u1", "101", "101"], ["mark", "102"], ["event", "u3", "103", "103"]]);
  assert.deepEqual([counts.eventsReceived, counts.eventsDispatched], [2, 2]);
});

Deno.test("runEventWatcher watches one namespace through its own endpoints", async () => {
  const { fake } = await watchUntil({ listVersions: ["9"] }, { untilWatch: 0, namespaces: ["team-a"] });
  assert.deepEqual(fake.listCalls.map((call) => call.namespace), ["team-a"]);
  assert.deepEqual(fake.watchCalls.map((call) => call.namespace), ["team-a"]);
});

Deno.test("runEventWatcher queues events without managedFields", async () => {
  const fake = createFakeKube({ watches: [[{ type: "ADDED", object: toEvent("u1", "101"), resourceVersion: "101" }]] });
  const queue = new ByteQueue<QueueItem>({ bytesMax: 1024 * 1024 });
  const controller = new AbortController();
  const running = runEventWatcher(
    toWatcherOptions(fake, queue, { readResumeVersion: () => Promise.resolve("100"), backoffMaxMs: 1_000 }),
    controller.signal,
  );
  await fake.watchIdle(0);
  controller.abort();
  await running;
  const item = queue.shift();
  assert.equal(item?.kind, "event");
  if (item?.kind !== "event") return;
  assert.equal(item.observedAt, "2026-12-03T12:00:00.000Z");
  assert.deepEqual(JSON.parse(item.eventJson).metadata, {
    name: "e-u1",
    namespace: "ns1",
    uid: "u1",
    resourceVersion: "101",
  });
  assert.deepEqual(item.involvedObject, { apiVersion: "v1", kind: "Pod", name: "web-1", namespace: "ns1" });
  assert.equal(item.eventBytes, new TextEncoder().encode(item.eventJson).length);
});

Deno.test("runEventWatcher builds a list page's items before waiting for room, then queues them in order", async () => {
  const fake = createFakeKube({
    lists: [[[toEvent("a", "1"), toEvent("b", "2"), toEvent("c", "3")], [toEvent("d", "4")]]],
    listVersions: ["9"],
  });
  // Room for one event at a time: the second push of the page waits until the first is taken.
  const queue = new ByteQueue<QueueItem>({ bytesMax: 100 });
  const { counts, metrics } = createCountingMetrics();
  const controller = new AbortController();
  const running = runEventWatcher(
    toWatcherOptions(fake, queue, { metrics, delay: () => Promise.resolve() }),
    controller.signal,
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  // The whole first page was read and turned into items (the parsed page is no longer needed); one is queued.
  assert.deepEqual([counts.eventsReceived, counts.eventsDispatched, queue.length], [3, 1, 1]);
  assert.equal(fake.listCalls.length, 1);
  const taken: (string | null)[][] = [];
  while (taken.length < 5) {
    taken.push(...drainQueue(queue));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  controller.abort(new Error("shutdown"));
  await running;
  assert.deepEqual(taken, [
    ["event", "a", "1", null],
    ["event", "b", "2", null],
    ["event", "c", "3", null],
    ["event", "d", "4", null],
    ["mark", "9"],
  ]);
  assert.deepEqual([counts.eventsReceived, counts.eventsDispatched], [4, 4]);
});
