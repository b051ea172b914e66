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
