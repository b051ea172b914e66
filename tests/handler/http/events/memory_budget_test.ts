import assert from "node:assert/strict";
import { isBudgetWithinHeap, MemoryBudget, OverBudgetError } from "../../../../handler/http/events/memory_budget.ts";

/** 100 bytes in all, of which one request may take 60. */
function budget(): MemoryBudget {
  return new MemoryBudget({ bytesMax: 100, requestBytesMax: 60 });
}

Deno.test("MemoryBudget lets the oldest request grow to requestBytesMax whatever the others hold", () => {
  const memory = budget();
  const oldest = memory.open();
  const younger = memory.open();
  younger.charge(40);
  oldest.charge(35);
  oldest.charge(25);
  assert.deepEqual([oldest.bytes, younger.bytes, memory.usedBytes], [60, 40, 100]);
});

Deno.test("MemoryBudget refuses a younger request's charge that would eat into the oldest one's headroom", () => {
  const memory = budget();
  const oldest = memory.open();
  const younger = memory.open();
  oldest.charge(10);
  // The oldest may still take 50: the others share 100 - 10 - 50 = 40.
  younger.charge(40);
  assert.throws(() => younger.charge(1), (error: Error) => {
    assert.ok(error instanceof OverBudgetError);
    assert.equal(error.name, "OverBudgetError");
    assert.equal(
      error.message,
      "Cannot hold 1 more bytes for the request: 50 of 100 are in use, and 50 are kept for the oldest request in flight",
    );
    return true;
  });
  assert.deepEqual([younger.bytes, memory.usedBytes], [40, 50]);
});

Deno.test("MemoryBudget shares more with the others as the oldest request grows into its headroom", () => {
  const memory = budget();
  const oldest = memory.open();
  const younger = memory.open();
  oldest.charge(60);
  younger.charge(40);
  assert.equal(memory.usedBytes, 100);
  assert.throws(() => memory.open().charge(1), OverBudgetError);
});

Deno.test("MemoryBudget gives the next request the headroom when the oldest is released", () => {
  const memory = budget();
  const oldest = memory.open();
  const second = memory.open();
  const third = memory.open();
  second.charge(30);
  third.charge(10);
  assert.throws(() => third.charge(1), OverBudgetError);
  oldest.release();
  // `second` is the oldest now, with 30 of headroom: `third` may take 100 - 40 - 30 = 30 more.
  third.charge(30);
  assert.throws(() => third.charge(1), OverBudgetError);
  second.charge(30);
  assert.deepEqual([second.bytes, third.bytes, memory.usedBytes], [60, 40, 100]);
});

Deno.test("MemoryBudget returns every byte on release, once, and ignores charges after it", () => {
  const memory = budget();
  const reservation = memory.open();
  reservation.charge(50);
  reservation.release();
  reservation.release();
  reservation.charge(30);
  assert.deepEqual([reservation.bytes, memory.usedBytes], [0, 0]);
  assert.equal(memory.isExhausted, false);
});

Deno.test("MemoryBudget.isExhausted is true once the others hold everything outside the oldest one's headroom", () => {
  const memory = budget();
  assert.equal(memory.isExhausted, false);
  const oldest = memory.open();
  assert.equal(memory.isExhausted, false);
  const younger = memory.open();
  younger.charge(39);
  assert.equal(memory.isExhausted, false);
  younger.charge(1);
  assert.equal(memory.isExhausted, true);
  oldest.release();
  assert.equal(memory.isExhausted, false);
});

Deno.test("MemoryBudget refuses to be built smaller than one request", () => {
  assert.throws(
    () => new MemoryBudget({ bytesMax: 50, requestBytesMax: 60 }),
    new RangeError("Cannot size the memory budget: one request may need 60 bytes, more than all 50"),
  );
});

Deno.test("isBudgetWithinHeap accepts a budget of at most half the heap limit", () => {
  assert.equal(isBudgetWithinHeap(128, 256), true);
  assert.equal(isBudgetWithinHeap(129, 256), false);
});
