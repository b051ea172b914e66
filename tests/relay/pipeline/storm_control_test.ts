import assert from "node:assert/strict";
import { Batcher } from "../../../relay/pipeline/batcher.ts";
import { ByteQueue } from "../../../relay/pipeline/byte_queue.ts";
import { type EventItem, type QueueItem, SMALL_ITEM_BYTES } from "../../../relay/pipeline/queue_item.ts";
import {
  isNewerResourceVersion,
  queueEventItem,
  STORM_FILL_RATIO,
  toMergedItem,
  toStableJson,
  toStormKey,
} from "../../../relay/pipeline/storm_control.ts";

/** A BackOff event version as an API server sends it: count and lastTimestamp bumped with each version. */
function version(
  uid: string,
  rv: number,
  options: { count?: number; message?: string; resume?: string | null; atMs?: number } = {},
): EventItem {
  const count = options.count ?? rv;
  const eventJson = JSON.stringify({
    kind: "Event",
    apiVersion: "v1",
    metadata: { name: `${uid}.18`, namespace: "shop", uid, resourceVersion: String(rv) },
    involvedObject: { kind: "Pod", name: `pod-${uid}`, namespace: "shop" },
    reason: "BackOff",
    message: options.message ?? "Back-off restarting failed container",
    count,
    firstTimestamp: "2026-12-03T10:00:00Z",
    lastTimestamp: `2026-12-03T10:${String(Math.floor(count / 60) % 60).padStart(2, "0")}:${
      String(count % 60).padStart(2, "0")
    }Z`,
    type: "Warning",
  });
  return {
    kind: "event",
    eventJson,
    eventBytes: eventJson.length,
    uid,
    resourceVersion: String(rv),
    involvedObject: { kind: "Pod", name: `pod-${uid}`, namespace: "shop" },
    observedAt: `2026-12-03T11:00:00.${String(rv % 1000).padStart(3, "0")}Z`,
    resumeVersion: options.resume === undefined ? String(rv) : options.resume,
    queuedAtMs: options.atMs ?? rv,
  };
}

function mark(rv: number): QueueItem {
  return { kind: "mark", resumeVersion: String(rv), queuedAtMs: rv };
}

/** A queue with storm control that holds exactly `items` events of the size `version` produces. */
function stormQueue(items: number): ByteQueue<QueueItem> {
  return new ByteQueue<QueueItem>({ bytesMax: items * version("u", 100).eventBytes, keyOf: toStormKey });
}

function drain(queue: ByteQueue<QueueItem>): QueueItem[] {
  const out: QueueItem[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  return out;
}

const describeItem = (item: QueueItem) =>
  item.kind === "event"
    ? `${item.uid}@${item.resourceVersion}+${item.replacedVersions ?? 0} resume ${item.resumeVersion}`
    : `${item.kind} resume ${item.resumeVersion}`;

Deno.test("isNewerResourceVersion orders decimal versions by value and never orders anything else", () => {
  assert.equal(isNewerResourceVersion("10", "9"), true);
  assert.equal(isNewerResourceVersion("9", "10"), false);
  assert.equal(isNewerResourceVersion("120", "120"), false);
  assert.equal(isNewerResourceVersion("98765432109876543210", "98765432109876543209"), true);
  assert.equal(isNewerResourceVersion("98765432109876543209", "98765432109876543210"), false);
  assert.equal(isNewerResourceVersion("011", "10"), false);
  assert.equal(isNewerResourceVersion("b", "a"), false);
  assert.equal(isNewerResourceVersion("", "1"), false);
});

Deno.test("toStableJson leaves out exactly the resourceVersion, count, lastTimestamp and series", () => {
  const json = JSON.stringify({
    metadata: { uid: "u", resourceVersion: "7", name: "n" },
    count: 3,
    lastTimestamp: "2026-12-03T10:00:00Z",
    series: { count: 2, lastObservedTime: "2026-12-03T10:00:00.000000Z" },
    message: "m",
    firstTimestamp: "2026-12-03T09:00:00Z",
  });
  assert.equal(
    toStableJson(json),
    '{"metadata":{"uid":"u","name":"n"},"message":"m","firstTimestamp":"2026-12-03T09:00:00Z"}',
  );
});

Deno.test("toMergedItem takes the newer version's content and the queued item's place and resume point", () => {
  const queued = version("a", 10, { atMs: 1_000 });
  const next = version("a", 15, { atMs: 1_500 });
  const merged = toMergedItem(queued, next)!;
  assert.equal(merged.eventJson, next.eventJson);
  assert.equal(merged.eventBytes, next.eventBytes);
  assert.equal(merged.resourceVersion, "15");
  assert.equal(merged.observedAt, next.observedAt);
  assert.deepEqual([merged.resumeVersion, merged.queuedAtMs, merged.replacedVersions], ["10", 1_000, 1]);
  const again = toMergedItem(merged, version("a", 16))!;
  assert.deepEqual([again.resourceVersion, again.resumeVersion, again.replacedVersions], ["16", "10", 2]);
});

Deno.test("toMergedItem never merges another event, an older or equal version, or a changed message", () => {
  assert.equal(toMergedItem(version("a", 10), version("b", 11)), undefined);
  assert.equal(toMergedItem(version("a", 10), version("a", 9)), undefined);
  assert.equal(toMergedItem(version("a", 10), version("a", 10)), undefined);
  // An aggregated event ("combined from similar events") changes its message: the older message would be lost.
  assert.equal(
    toMergedItem(version("a", 10), version("a", 11, { message: "(combined from similar events): x" })),
    undefined,
  );
});

Deno.test("queueEventItem appends every version while the queue is at most half full (normal times)", async () => {
  const queue = stormQueue(8);
  for (let rv = 1; rv <= 4; rv++) assert.equal(await queueEventItem(queue, version("a", rv)), false);
  assert.ok(queue.bytes <= queue.bytesMax * STORM_FILL_RATIO);
  assert.equal(await queueEventItem(queue, version("a", 5)), true);
  assert.deepEqual(drain(queue).map(describeItem), [
    "a@1+0 resume 1",
    "a@2+0 resume 2",
    "a@3+0 resume 3",
    "a@5+1 resume 5",
  ]);
});

Deno.test("queueEventItem replaces the newest queued version of the same event once the queue is half full", async () => {
  const queue = stormQueue(2);
  await queueEventItem(queue, version("a", 1));
  await queueEventItem(queue, version("b", 2));
  const bytesBefore = queue.bytes;
  assert.equal(await queueEventItem(queue, version("a", 3)), true);
  assert.equal(await queueEventItem(queue, version("a", 4)), true);
  assert.equal(await queueEventItem(queue, version("b", 5)), true);
  assert.equal(queue.bytes, bytesBefore);
  // The replacements keep their places and resume points; the newest item carries the last position read.
  assert.deepEqual(drain(queue).map(describeItem), ["a@4+2 resume 1", "b@5+1 resume 5"]);
});

Deno.test("queueEventItem appends a version with nothing to replace into the headroom without waiting", async () => {
  const queue = stormQueue(4);
  await queueEventItem(queue, version("a", 1));
  await queueEventItem(queue, version("b", 2));
  assert.equal(await queueEventItem(queue, version("c", 3)), false);
  assert.ok(queue.bytes > queue.bytesMax * STORM_FILL_RATIO);
  assert.equal(await queueEventItem(queue, version("c", 4)), true);
  assert.deepEqual(drain(queue).map(describeItem), ["a@1+0 resume 1", "b@2+0 resume 2", "c@4+1 resume 4"]);
});

Deno.test("queueEventItem keeps the queue's bytes exact when a replacement is larger", async () => {
  const queue = new ByteQueue<QueueItem>({ bytesMax: 2 * version("a", 100).eventBytes + 2, keyOf: toStormKey });
  await queueEventItem(queue, version("a", 98));
  await queueEventItem(queue, version("b", 99));
  const larger = version("a", 100);
  // One digit more in both the resourceVersion and the count.
  assert.equal(larger.eventBytes, version("a", 98).eventBytes + 2);
  assert.equal(await queueEventItem(queue, larger), true);
  assert.equal(queue.bytes, larger.eventBytes + version("b", 99).eventBytes);
  const items = drain(queue) as EventItem[];
  assert.equal(queue.bytes, 0);
  assert.deepEqual(items.map((item) => item.eventJson), [larger.eventJson, version("b", 99).eventJson]);
});

Deno.test("queueEventItem never replaces a version already handed to the batcher: it waits and appends", async () => {
  const queue = stormQueue(2);
  await queueEventItem(queue, version("a", 1));
  await queueEventItem(queue, version("b", 2));
  const inFlight = queue.shift()!;
  await queueEventItem(queue, version("c", 3));
  let isQueued = false;
  const queueing = queueEventItem(queue, version("a", 4)).then((replaced) => {
    isQueued = true;
    return replaced;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(isQueued, false, "a version of an event in flight replaced nothing and waited for room");
  assert.equal(describeItem(inFlight), "a@1+0 resume 1");
  queue.shift();
  assert.equal(await queueing, false);
  assert.equal(describeItem(inFlight), "a@1+0 resume 1");
  assert.deepEqual(drain(queue).map(describeItem), ["c@3+0 resume 3", "a@4+0 resume 4"]);
});

Deno.test("queueEventItem without the key index (STORM_CONTROL=off) waits for room like a plain push", async () => {
  const queue = new ByteQueue<QueueItem>({ bytesMax: 2 * version("u", 100).eventBytes });
  await queueEventItem(queue, version("a", 1));
  await queueEventItem(queue, version("a", 2));
  let isQueued = false;
  const queueing = queueEventItem(queue, version("a", 3)).then(() => (isQueued = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(isQueued, false);
  queue.shift();
  await queueing;
  assert.deepEqual(drain(queue).map(describeItem), ["a@2+0 resume 2", "a@3+0 resume 3"]);
});

Deno.test("a batch never carries a checkpoint past an event it does not hold: the replacement keeps its place's", async () => {
  // a@10 and b@11 are queued and the queue is full; a@12 is merged into a@10's place. If that place took position
  // 12, the first batch (holding only a) would store checkpoint 12 while b@11 is not stored yet.
  const queue = stormQueue(2);
  await queueEventItem(queue, version("a", 10));
  await queueEventItem(queue, version("b", 11));
  assert.equal(await queueEventItem(queue, version("a", 12)), true);
  const batcher = new Batcher({
    queue,
    cluster: "c1",
    batchRecordsMax: 1,
    batchBytesMax: 1_000_000,
    flushIntervalMs: 1,
    enrich: () => Promise.resolve(undefined),
  });
  const signal = new AbortController().signal;
  const first = await batcher.next({ signal, isDraining: true });
  const second = await batcher.next({ signal, isDraining: true });
  assert.equal(first?.resumeVersion, "10");
  assert.match(first!.lines[0]!, /"resourceVersion":"12".*,"replacedVersions":1}\n$/);
  assert.equal(second?.resumeVersion, "12");
  assert.match(second!.lines[0]!, /"uid":"b","resourceVersion":"11"/);
});

Deno.test("queueEventItem leaves the resume point alone for list items and when the newest item is a gap", async () => {
  const queue = stormQueue(3);
  await queueEventItem(queue, version("a", 10));
  await queue.push({ kind: "mark", resumeVersion: "11", queuedAtMs: 0 }, version("u", 100).eventBytes);
  await queueEventItem(queue, version("b", 12));
  assert.equal(await queueEventItem(queue, version("a", 20, { resume: null })), true);
  assert.deepEqual(drain(queue).map(describeItem), ["a@20+1 resume 10", "mark resume 11", "b@12+0 resume 12"]);

  const withGap = stormQueue(2);
  await queueEventItem(withGap, version("a", 10));
  const gap: QueueItem = {
    kind: "gap",
    record: { v: 1, kind: "gap", cluster: "c1", from: "10", to: "30", reason: "WATCH_EXPIRED", observedAt: "x" },
    resumeVersion: null,
    queuedAtMs: 0,
  };
  await withGap.push(gap, version("u", 100).eventBytes);
  assert.equal(await queueEventItem(withGap, version("a", 31)), true);
  assert.deepEqual(drain(withGap).map(describeItem), ["a@31+1 resume 10", "gap resume null"]);
});

/** Lets pending promise callbacks run; `queueEventItem` settles within a few turns unless it waits for room. */
async function settle(isSettled: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10 && !isSettled(); turn++) await Promise.resolve();
}

/**
 * A watch of 30,000 notifications (10 events bumped at random, and marks) through a small queue with storm control,
 * drained one item at a time at random moments, as the batcher does. Each checkpoint a drained item carries must
 * cover only what was drained before it (resuming from it misses nothing), and no version may be lost.
 */
Deno.test("storm control over 30,000 random notifications: every checkpoint is covered, nothing is lost", async () => {
  let state = 7;
  const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
  const queue = stormQueue(8);
  const counts = new Map<string, number>();
  const notified: { uid: string | undefined; rv: number }[] = [];
  const drained: QueueItem[] = [];
  const checkpoints: number[] = [];
  const newestDrained = new Map<string, number>();
  let checked = 0;
  let replacements = 0;
  const consume = () => {
    const item = queue.shift();
    if (item === undefined) return;
    drained.push(item);
    if (item.kind === "event") newestDrained.set(item.uid, Number(item.resourceVersion));
    if (item.resumeVersion === null) return;
    const checkpoint = Number(item.resumeVersion);
    checkpoints.push(checkpoint);
    // Drained versions only grow, so a notification covered once stays covered: check each one once.
    for (; checked < notified.length && notified[checked]!.rv <= checkpoint; checked++) {
      const n = notified[checked]!;
      if (n.uid === undefined) continue;
      assert.ok((newestDrained.get(n.uid) ?? -1) >= n.rv, `checkpoint ${checkpoint} passes ${n.uid}@${n.rv}`);
    }
  };
  for (let rv = 1; rv <= 30_000; rv++) {
    if (random() < 0.35) consume();
    if (random() < 0.05) {
      notified.push({ uid: undefined, rv });
      while (queue.isFullFor(SMALL_ITEM_BYTES)) consume();
      await queue.push(mark(rv), SMALL_ITEM_BYTES);
      continue;
    }
    const uid = `e${Math.floor(random() * 10)}`;
    const count = (counts.get(uid) ?? 0) + 1;
    counts.set(uid, count);
    notified.push({ uid, rv });
    let isSettled = false;
    const queueing = queueEventItem(queue, version(uid, rv, { count })).then((replaced) => {
      isSettled = true;
      if (replaced) replacements++;
    });
    for (await settle(() => isSettled); !isSettled; await settle(() => isSettled)) consume();
    await queueing;
  }
  while (queue.length > 0) consume();
  assert.ok(replacements > 10_000, `only ${replacements} replacements were exercised`);
  assert.deepEqual(checkpoints, [...checkpoints].sort((a, b) => a - b), "checkpoints never go back");
  assert.equal(checkpoints.at(-1), 30_000);
  assert.equal(checked, notified.length);
  const events = drained.filter((item): item is EventItem => item.kind === "event");
  const replaced = events.reduce((sum, item) => sum + (item.replacedVersions ?? 0), 0);
  // Every version is either sent or counted in the record that replaced it, and each event's last count is sent.
  assert.equal(events.length + replaced, [...counts.values()].reduce((a, b) => a + b));
  assert.equal(replaced, replacements);
  for (const [uid, count] of counts) {
    const last = events.filter((item) => item.uid === uid).at(-1)!;
    assert.equal(JSON.parse(last.eventJson).count, count, uid);
  }
});
