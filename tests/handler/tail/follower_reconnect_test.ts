import assert from "node:assert/strict";
import { toReconnectDelayMs } from "../../../handler/tail/follower.ts";

Deno.test("toReconnectDelayMs takes the delays in turn and repeats the last one", () => {
  const delaysMs = [250, 500, 1000];
  assert.deepEqual([0, 1, 2, 3, 50].map((failures) => toReconnectDelayMs(delaysMs, failures)), [
    250,
    500,
    1000,
    1000,
    1000,
  ]);
});

Deno.test("toReconnectDelayMs waits 1000 ms when no delays are given", () => {
  assert.equal(toReconnectDelayMs([], 0), 1000);
  assert.equal(toReconnectDelayMs([], 3), 1000);
});
