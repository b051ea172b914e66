import assert from "node:assert/strict";
import { type Delay, delay, pause } from "../../shared/delay.ts";

Deno.test("delay rejects with the signal's reason when aborted", async () => {
  const controller = new AbortController();
  const waiting = delay(60_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
});

Deno.test("pause resolves when its signal aborts during the wait", async () => {
  const controller = new AbortController();
  const waiting = pause(60_000, controller.signal);
  controller.abort(new Error("stop"));
  assert.equal(await waiting, undefined);
});

Deno.test("pause rethrows a failure of the wait that is not an abort", async () => {
  const failing: Delay = () => Promise.reject(new TypeError("clock broke"));
  await assert.rejects(pause(1, new AbortController().signal, failing), { name: "TypeError", message: "clock broke" });
});
