import assert from "node:assert/strict";
import { Batcher } from "../../../relay/pipeline/batcher.ts";
import { ByteQueue } from "../../../relay/pipeline/byte_queue.ts";
import type { EventItem, QueueItem } from "../../../relay/pipeline/queue_item.ts";

function event(rv: string, options: { resume?: boolean; atMs?: number; pad?: number } = {}): EventItem {
  const eventJson = JSON.stringify({
    metadata: { uid: `u${rv}`, resourceVersion: rv },
    message: "x".repeat(options.pad ?? 0),
  });
  return {
    kind: "event",
    eventJson,
    eventBytes: new TextEncoder().encode(eventJson).length,
    uid: `u${rv}`,
    resourceVersion: rv,
    involvedObject: { kind: "Pod", name: "p" },
    observedAt: "2026-01-01T00:00:00.000Z",
    resumeVersion: options.resume === false ? null : rv,
    queuedAtMs: options.atMs ?? 0,
  };
}

function setup(options: { batchRecordsMax?: number; batchBytesMax?: number; flushIntervalMs?: number } = {}) {
  let nowMs = 0;
  const queue = new ByteQueue<QueueItem>({ bytesMax: 1_000_000 });
  const batcher = new Batcher({
    queue,
    cluster: "c1",
    batchRecordsMax: options.batchRecordsMax ?? 100,
    batchBytesMax: options.batchBytesMax ?? 1_000_000,
    flushIntervalMs: options.flushIntervalMs ?? 250,
    enrich: (item) => Promise.resolve({ labels: { app: item.involvedObject.name ?? "" } }),
    now: () => nowMs,
  });
  return { queue, batcher, setNow: (ms: number) => (nowMs = ms) };
}

const signal = new AbortController().signal;

Deno.test("Batcher flushes when batchRecordsMax is reached", async () => {
  const { queue, batcher } = setup({ batchRecordsMax: 3 });
  for (const rv of ["1", "2", "3", "4"]) await queue.push(event(rv), 10);
  const batch = await batcher.next({ signal });
  assert.equal(batch?.lines.length, 3);
  assert.equal(batch?.resumeVersion, "3");
  assert.equal(queue.length, 1);
});

Deno.test("Batcher encodes event records with cluster, observedAt, the event text and enrichment", async () => {
  const { queue, batcher } = setup({ batchRecordsMax: 1 });
  await queue.push(event("7"), 10);
  const batch = await batcher.next({ signal });
  assert.deepEqual(batch?.lines, [
    '{"v":1,"kind":"event","cluster":"c1","observedAt":"2026-01-01T00:00:00.000Z",' +
    '"event":{"metadata":{"uid":"u7","resourceVersion":"7"},"message":""},"enrichment":{"labels":{"app":"p"}}}\n',
  ]);
  assert.equal(batch?.bytes, batch?.lines[0]?.length);
  assert.equal(batch?.eventCount, 1);
});

Deno.test("Batcher writes replacedVersions into the record of an item that replaced queued versions", async () => {
  const { queue, batcher } = setup({ batchRecordsMax: 1 });
  await queue.push({ ...event("8"), replacedVersions: 3 }, 10);
  const batch = await batcher.next({ signal });
  assert.deepEqual(batch?.lines, [
    '{"v":1,"kind":"event","cluster":"c1","observedAt":"2026-01-01T00:00:00.000Z",' +
    '"event":{"metadata":{"uid":"u8","resourceVersion":"8"},"message":""},"replacedVersions":3,' +
    '"enrichment":{"labels":{"app":"p"}}}\n',
  ]);
  assert.equal(batch?.bytes, batch?.lines[0]?.length);
});

Deno.test("Batcher closes a batch before batchBytesMax and carries the line that did not fit", async () => {
  const { queue, batcher } = setup({ batchBytesMax: 1500 });
  for (const rv of ["1", "2", "3"]) await queue.push(event(rv, { pad: 500 }), 600);
  const first = await batcher.next({ signal, isDraining: true });
  const second = await batcher.next({ signal, isDraining: true });
  assert.equal(first?.lines.length, 2);
  assert.equal(first?.resumeVersion, "2");
  assert.ok(first!.bytes <= 1500);
  assert.equal(second?.lines.length, 1);
  assert.equal(second?.resumeVersion, "3");
  assert.equal(await batcher.next({ signal, isDraining: true }), undefined);
});

Deno.test("Batcher sends a partial batch once flushIntervalMs has passed since its first item", async () => {
  const { queue, batcher, setNow } = setup({ flushIntervalMs: 250 });
  await queue.push(event("1", { atMs: 1000 }), 10);
  setNow(1100);
  const started = Date.now();
  const batch = await batcher.next({ signal });
  const waitedMs = Date.now() - started;
  assert.equal(batch?.lines.length, 1);
  assert.ok(waitedMs >= 140 && waitedMs < 1000, `waited ${waitedMs} ms`);
});

Deno.test("Batcher takes the resume point from the last marked item, not from list items", async () => {
  const { queue, batcher } = setup();
  await queue.push(event("5"), 10);
  await queue.push(event("9", { resume: false }), 10);
  await queue.push(event("3", { resume: false }), 10);
  let batch = await batcher.next({ signal, isDraining: true });
  assert.equal(batch?.resumeVersion, "5");
  await queue.push({ kind: "mark", resumeVersion: "12", queuedAtMs: 0 }, 1);
  batch = await batcher.next({ signal, isDraining: true });
  assert.deepEqual({ lines: batch?.lines.length, resumeVersion: batch?.resumeVersion }, {
    lines: 0,
    resumeVersion: "12",
  });
});

Deno.test("Batcher returns what it has when the signal aborts while it waits", async () => {
  const { queue, batcher } = setup({ flushIntervalMs: 60_000 });
  await queue.push(event("1"), 10);
  const controller = new AbortController();
  const pending = batcher.next({ signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  const batch = await pending;
  assert.equal(batch?.lines.length, 1);
  assert.equal(await batcher.next({ signal: controller.signal }), undefined);
});
