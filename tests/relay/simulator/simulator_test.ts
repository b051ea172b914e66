import assert from "node:assert/strict";
import { startSimulator } from "../../../relay/simulator/simulator.ts";

Deno.test("startSimulator refuses a window size and a TTL that are not positive", async () => {
  await assert.rejects(startSimulator({ watchWindowSize: 0 }), {
    name: "RangeError",
    message: "Cannot start the simulator: watchWindowSize 0 is not a positive integer",
  });
  await assert.rejects(startSimulator({ eventTtlMs: -1 }), {
    name: "RangeError",
    message: "Cannot start the simulator: eventTtlMs -1 is not positive",
  });
});

Deno.test("Simulator.close cuts off a watch client that stopped reading, after a grace of one second", async () => {
  const simulator = await startSimulator();
  const response = await fetch(
    `${simulator.url}/api/v1/events?watch=true&resourceVersion=${simulator.resourceVersion}`,
  );
  assert.equal(response.status, 200);
  await simulator.burst({ count: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const startedAt = performance.now();
  await simulator.close();
  const elapsedMs = performance.now() - startedAt;
  assert.ok(elapsedMs >= 900 && elapsedMs < 3_000, `closed after ${elapsedMs} ms`);
  await assert.rejects(new Response(response.body).text());
});

Deno.test("Simulator.close ends a watch that is being read cleanly and at once", async () => {
  const simulator = await startSimulator();
  const response = await fetch(
    `${simulator.url}/api/v1/events?watch=true&resourceVersion=${simulator.resourceVersion}`,
  );
  const text = new Response(response.body).text();
  simulator.createEvent({ metadata: { name: "e1", namespace: "a" }, involvedObject: { kind: "Pod", name: "p" } });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const startedAt = performance.now();
  await simulator.close();
  assert.ok(performance.now() - startedAt < 500);
  const lines = (await text).trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((l) => `${l.type} ${l.object.metadata.name}`), ["ADDED e1"]);
});
