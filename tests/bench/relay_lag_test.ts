import assert from "node:assert/strict";
import { toPercentile } from "./relay_lag.ts";

Deno.test("toPercentile takes the nearest rank: the smallest value with at least that fraction at or below it", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(toPercentile(values, 0.5), 50);
  assert.equal(toPercentile(values, 0.99), 99);
  assert.equal(toPercentile(values, 1), 100);
  assert.equal(toPercentile([7], 0.99), 7);
  assert.equal(toPercentile([1, 2, 3], 0), 1);
  assert.equal(toPercentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 0.99), 1000);
});

Deno.test("toPercentile refuses an empty list", () => {
  assert.throws(() => toPercentile([], 0.5), { name: "RangeError", message: "Cannot take a percentile of no values" });
});
