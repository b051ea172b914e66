import assert from "node:assert/strict";
import { createInFlight } from "../../../handler/http/in_flight.ts";

Deno.test("InFlight counts running work and wakes waiters when the last one ends", async () => {
  const inFlight = createInFlight();
  assert.equal(await inFlight.waitUntilIdle(1), true);
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  const a = inFlight.track(() => first.promise.then(() => "a"));
  const b = inFlight.track(() => second.promise.then(() => "b"));
  assert.equal(inFlight.count, 2);
  const idle = inFlight.waitUntilIdle();
  first.resolve();
  assert.equal(await a, "a");
  assert.equal(inFlight.count, 1);
  second.resolve();
  assert.deepEqual([await b, await idle, inFlight.count], ["b", true, 0]);
});

Deno.test("InFlight.waitUntilIdle answers false when timeoutS passes first", async () => {
  const inFlight = createInFlight();
  const never = Promise.withResolvers<void>();
  const work = inFlight.track(() => never.promise);
  assert.equal(await inFlight.waitUntilIdle(0.01), false);
  never.resolve();
  await work;
});

Deno.test("InFlight.track counts work that throws as finished", async () => {
  const inFlight = createInFlight();
  await assert.rejects(inFlight.track(() => Promise.reject(new RangeError("boom"))), { name: "RangeError" });
  assert.equal(inFlight.count, 0);
});
