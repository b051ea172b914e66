import assert from "node:assert/strict";
import { IngestGate } from "../../../../handler/http/events/ingest_gate.ts";
import { MemoryBudget } from "../../../../handler/http/events/memory_budget.ts";
import { HttpError } from "../../../../handler/http/http_error.ts";

function request(): { request: Request; isCancelled: () => boolean } {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    cancel() {
      cancelled = true;
    },
  });
  return { request: new Request("http://h/v1/events", { method: "POST", body }), isCancelled: () => cancelled };
}

Deno.test("IngestGate refuses a batch past requestsInFlightMax with 429 TOO_MANY_REQUESTS, cancelling its body", async () => {
  const gate = new IngestGate({
    requestsInFlightMax: 1,
    memory: new MemoryBudget({ bytesMax: 100, requestBytesMax: 50 }),
  });
  let finish!: () => void;
  const first = gate.run(request().request, () => new Promise((resolve) => finish = () => resolve(new Response("ok"))));
  assert.equal(gate.inFlight, 1);
  const second = request();
  await assert.rejects(gate.run(second.request, () => Promise.resolve(new Response("no"))), (error: unknown) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.code, "TOO_MANY_REQUESTS");
    assert.equal(error.status, 429);
    assert.equal(error.headers?.["retry-after"], "1");
    return true;
  });
  assert.equal(second.isCancelled(), true);
  finish();
  assert.equal(await (await first).text(), "ok");
  assert.equal(gate.inFlight, 0);
});

Deno.test("IngestGate refuses a batch with 503 OVER_MEMORY_BUDGET while the others hold the budget", async () => {
  const memory = new MemoryBudget({ bytesMax: 100, requestBytesMax: 50 });
  const gate = new IngestGate({ requestsInFlightMax: 10, memory });
  let finish!: () => void;
  const held: Promise<Response>[] = [];
  held.push(gate.run(request().request, (reservation) => {
    reservation.charge(50);
    return new Promise((resolve) => finish = () => resolve(new Response("first")));
  }));
  held.push(gate.run(request().request, (reservation) => {
    reservation.charge(50);
    return Promise.resolve(new Response("second"));
  }));
  assert.equal(await (await held[1]!).text(), "second");
  const third = gate.run(request().request, async (reservation) => {
    reservation.charge(50);
    await new Promise((resolve) => setTimeout(resolve, 0));
    return new Response("third");
  });
  const outcome = await third.then((r) => r.text(), (error: unknown) => error);
  finish();
  await held[0];
  assert.equal(memory.usedBytes, 0, "every reservation is released once its batch settles");
  if (typeof outcome === "string") {
    assert.equal(outcome, "third", "a batch that fits runs");
  } else {
    assert.ok(outcome instanceof HttpError);
    assert.equal(outcome.code, "OVER_MEMORY_BUDGET");
  }
});

Deno.test("IngestGate releases the reservation and the slot when the batch throws", async () => {
  const memory = new MemoryBudget({ bytesMax: 100, requestBytesMax: 50 });
  const gate = new IngestGate({ requestsInFlightMax: 1, memory });
  await assert.rejects(
    gate.run(request().request, (reservation) => {
      reservation.charge(40);
      return Promise.reject(new TypeError("broken"));
    }),
    { name: "TypeError", message: "broken" },
  );
  assert.equal(gate.inFlight, 0);
  assert.equal(memory.usedBytes, 0);
});
