import assert from "node:assert/strict";
import { raceSignal, Tripwire } from "../../shared/race.ts";

const MIB = 1024 * 1024;

/** A fresh string of `bytes` characters (not shared with any other), as a query result or a watch line would be. */
function freshText(bytes: number, seed: number): string {
  return `${seed}:`.padEnd(bytes, "x");
}

Deno.test("Tripwire.race settles as the work does while the wire is intact", async () => {
  const wire = new Tripwire();
  assert.equal(await wire.race(Promise.resolve(7)), 7);
  const failure = new RangeError("Cannot go on: test failure");
  await assert.rejects(wire.race(Promise.reject(failure)), (error) => error === failure);
  assert.equal(wire.isTripped, false);
});

Deno.test("Tripwire.trip fails the waits in progress and every later one with its first reason", async () => {
  const wire = new Tripwire();
  const never = new Promise<number>(() => {});
  const waiting = wire.race(never);
  const first = new Error("connection closed");
  wire.trip(first);
  wire.trip(new Error("second reason, ignored"));
  await assert.rejects(waiting, (error) => error === first);
  await assert.rejects(wire.race(Promise.resolve(1)), (error) => error === first);
  // Work that fails after the trip is not an unhandled rejection.
  await assert.rejects(wire.race(Promise.reject(new Error("late"))), (error) => error === first);
  assert.equal(wire.isTripped, true);
});

Deno.test("raceSignal settles as the work does, or rejects with the signal's reason when it aborts first", async () => {
  const controller = new AbortController();
  assert.equal(await raceSignal(Promise.resolve("done"), controller.signal), "done");
  const waiting = raceSignal(new Promise(() => {}), controller.signal);
  const reason = new Error("shutting down");
  controller.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
  await assert.rejects(raceSignal(Promise.resolve(1), controller.signal), (error) => error === reason);
});

Deno.test("a Tripwire and a signal that never fire keep none of the results raced against them", async () => {
  const wire = new Tripwire();
  const signal = new AbortController().signal;
  const before = Deno.memoryUsage().heapUsed;
  // Shaped like a watch's reads: 200,000 results of about 1 KiB, some 200 MiB if the wire or the signal kept them.
  for (let i = 0; i < 200_000; i++) {
    const read = Promise.resolve({ done: false, value: { line: i, text: freshText(1024, i) } });
    const result = await wire.race(raceSignal(read, signal));
    assert.equal(result.value.line, i);
  }
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.ok(grown < 96 * MIB, `the heap grew ${(grown / MIB).toFixed(1)} MiB`);
});
