import assert from "node:assert/strict";
import { ByteQueue } from "../../../relay/pipeline/byte_queue.ts";

Deno.test("ByteQueue.push waits while the queue is full and resumes when the consumer drains", async () => {
  const queue = new ByteQueue<string>({ bytesMax: 10 });
  await queue.push("a", 6);
  let isPushed = false;
  const pushing = queue.push("b", 6).then(() => {
    isPushed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(isPushed, false);
  assert.equal(queue.bytes, 6);
  assert.equal(queue.shift(), "a");
  await pushing;
  assert.equal(isPushed, true);
  assert.equal(queue.bytes, 6);
  assert.equal(queue.shift(), "b");
  assert.equal(queue.bytes, 0);
});

Deno.test("ByteQueue admits one oversized item into an empty queue", async () => {
  const queue = new ByteQueue<string>({ bytesMax: 10 });
  await queue.push("big", 50);
  assert.equal(queue.length, 1);
  assert.equal(queue.isFullFor(1), true);
});

Deno.test("ByteQueue.push rejects with the signal's reason when aborted while waiting", async () => {
  const queue = new ByteQueue<string>({ bytesMax: 10 });
  await queue.push("a", 10);
  const controller = new AbortController();
  const pushing = queue.push("b", 1, controller.signal);
  controller.abort(new Error("shutdown"));
  await assert.rejects(pushing, { message: "shutdown" });
  assert.equal(queue.length, 1);
});

Deno.test("ByteQueue keeps FIFO order across many items", async () => {
  const queue = new ByteQueue<number>({ bytesMax: 1_000_000 });
  for (let i = 0; i < 5000; i++) await queue.push(i, 1);
  const out: number[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => i));
});

interface Keyed {
  key: string | undefined;
  name: string;
}

function keyedQueue(bytesMax: number): ByteQueue<Keyed> {
  return new ByteQueue<Keyed>({ bytesMax, keyOf: (item) => item.key });
}

function drain<T>(queue: ByteQueue<T>): T[] {
  const out: T[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) out.push(item);
  return out;
}

Deno.test("ByteQueue.replace puts the item in the queued one's place and keeps the bytes exact", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 10);
  await queue.push({ key: "b", name: "b1" }, 20);
  await queue.push({ key: "c", name: "c1" }, 5);
  assert.equal(queue.replace({ key: "b", name: "b2" }, 27), true);
  assert.deepEqual([queue.bytes, queue.length], [42, 3]);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 3), true);
  assert.deepEqual([queue.bytes, queue.length], [35, 3]);
  assert.deepEqual(queue.queued("b"), { key: "b", name: "b2" });
  assert.equal(queue.shift()?.name, "a2");
  assert.equal(queue.bytes, 32);
  assert.equal(queue.shift()?.name, "b2");
  assert.equal(queue.bytes, 5);
  assert.equal(queue.shift()?.name, "c1");
  assert.deepEqual([queue.bytes, queue.length, queue.indexedKeys], [0, 0, 0]);
});

Deno.test("ByteQueue.replace never merges items with different keys or without a key", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 10);
  await queue.push({ key: undefined, name: "mark" }, 10);
  assert.equal(queue.replace({ key: "b", name: "b1" }, 10), false);
  assert.equal(queue.replace({ key: undefined, name: "mark2" }, 10), false);
  assert.deepEqual([queue.bytes, queue.indexedKeys], [20, 1]);
  assert.deepEqual(drain(queue).map((item) => item.name), ["a1", "mark"]);
});

Deno.test("ByteQueue.replace never reaches an item already shifted to the consumer", async () => {
  const queue = keyedQueue(100);
  const inFlight = { key: "a", name: "a1" };
  await queue.push(inFlight, 10);
  await queue.push({ key: "b", name: "b1" }, 10);
  assert.equal(queue.shift(), inFlight);
  assert.equal(queue.queued("a"), undefined);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 10), false);
  assert.deepEqual(inFlight, { key: "a", name: "a1" });
  assert.deepEqual([queue.bytes, queue.length], [10, 1]);
});

Deno.test("ByteQueue.replace targets the newest queued item of a key, and shifting an older one keeps it indexed", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 10);
  await queue.push({ key: "a", name: "a2" }, 10);
  assert.equal(queue.indexedKeys, 1);
  assert.equal(queue.replace({ key: "a", name: "a3" }, 10), true);
  assert.equal(queue.shift()?.name, "a1");
  assert.equal(queue.queued("a")?.name, "a3");
  assert.equal(queue.replace({ key: "a", name: "a4" }, 10), true);
  assert.deepEqual(drain(queue).map((item) => item.name), ["a4"]);
  assert.equal(queue.indexedKeys, 0);
});

Deno.test("ByteQueue.replace refuses a larger item whose extra bytes do not fit under bytesMax", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 60);
  await queue.push({ key: "b", name: "b1" }, 35);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 66), false);
  assert.deepEqual([queue.bytes, queue.queued("a")?.name], [95, "a1"]);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 65), true);
  assert.equal(queue.bytes, 100);
});

Deno.test("ByteQueue.replace with a smaller item wakes a producer waiting for room", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 90);
  let isPushed = false;
  const pushing = queue.push({ key: "b", name: "b1" }, 20).then(() => (isPushed = true));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(isPushed, false);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 80), true);
  await pushing;
  assert.deepEqual([queue.bytes, queue.length], [100, 2]);
});

Deno.test("ByteQueue without keyOf keeps no index and replaces nothing", async () => {
  const queue = new ByteQueue<Keyed>({ bytesMax: 100 });
  await queue.push({ key: "a", name: "a1" }, 10);
  assert.equal(queue.queued("a"), undefined);
  assert.equal(queue.replace({ key: "a", name: "a2" }, 10), false);
  assert.deepEqual([queue.indexedKeys, queue.bytes], [0, 10]);
});

Deno.test("ByteQueue.waitForSpace resolves at once when there is room, else after the next shift", async () => {
  const queue = keyedQueue(100);
  await queue.push({ key: "a", name: "a1" }, 90);
  await queue.waitForSpace(10);
  let isWoken = false;
  const waiting = queue.waitForSpace(20).then(() => (isWoken = true));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(isWoken, false);
  queue.shift();
  await waiting;
  const controller = new AbortController();
  await queue.push({ key: "b", name: "b1" }, 100);
  const aborted = queue.waitForSpace(1, controller.signal);
  controller.abort(new Error("shutdown"));
  await assert.rejects(aborted, { message: "shutdown" });
});

/** A small deterministic pseudo-random generator (mulberry32), so a failing sequence can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("ByteQueue with keys matches a plain list model over 20,000 random pushes, replaces and shifts", () => {
  const random = seeded(20261203);
  const bytesMax = 2_000;
  const queue = keyedQueue(bytesMax);
  const model: { item: Keyed; bytes: number }[] = [];
  let replaced = 0;
  for (let step = 0; step < 20_000; step++) {
    const roll = random();
    const key = random() < 0.1 ? undefined : `k${Math.floor(random() * 12)}`;
    const bytes = 1 + Math.floor(random() * 300);
    const item = { key, name: `n${step}` };
    if (roll < 0.4) {
      const index = model.findLastIndex((slot) => key !== undefined && slot.item.key === key);
      const used = model.reduce((sum, slot) => sum + slot.bytes, 0);
      const fits = index !== -1 && (bytes <= model[index]!.bytes || used - model[index]!.bytes + bytes <= bytesMax);
      assert.equal(queue.replace(item, bytes), fits, `step ${step}`);
      if (fits) {
        model[index] = { item, bytes };
        replaced++;
      }
    } else if (roll < 0.75) {
      if (queue.isFullFor(bytes)) continue;
      void queue.push(item, bytes);
      model.push({ item, bytes });
    } else {
      assert.equal(queue.shift(), model.shift()?.item, `step ${step}`);
    }
    const keys = new Set(model.flatMap((slot) => slot.item.key === undefined ? [] : [slot.item.key]));
    assert.equal(queue.bytes, model.reduce((sum, slot) => sum + slot.bytes, 0), `step ${step}`);
    assert.equal(queue.length, model.length, `step ${step}`);
    assert.equal(queue.indexedKeys, keys.size, `step ${step}`);
    assert.ok(queue.bytes <= bytesMax || queue.length === 1, `step ${step}`);
  }
  assert.ok(replaced > 2_000, `only ${replaced} replacements were exercised`);
  assert.deepEqual(drain(queue), model.map((slot) => slot.item));
});
