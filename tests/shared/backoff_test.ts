import assert from "node:assert/strict";
import { toBackoffMs } from "../../shared/backoff.ts";

Deno.test("toBackoffMs doubles the ceiling per attempt and scales it by the random draw", () => {
  const half = () => 0.5;
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((attempt) => toBackoffMs(attempt, { baseMs: 100, maxMs: 10_000, random: half })),
    [50, 100, 200, 400, 800],
  );
});

Deno.test("toBackoffMs never exceeds maxMs", () => {
  const almostOne = () => 0.999999;
  assert.equal(toBackoffMs(50, { baseMs: 100, maxMs: 30_000, random: almostOne }), 29_999);
  assert.equal(toBackoffMs(1_000_000, { baseMs: 100, maxMs: 30_000, random: () => 0 }), 0);
});

Deno.test("toBackoffMs refuses a negative attempt with RangeError", () => {
  assert.throws(() => toBackoffMs(-1, { baseMs: 1, maxMs: 2 }), {
    name: "RangeError",
    message: "Cannot compute backoff: attempt -1 is not a non-negative integer",
  });
});
