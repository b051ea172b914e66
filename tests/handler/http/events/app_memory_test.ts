/**
 * The memory budget of `POST /v1/events` (REQUESTS_MEMORY_BYTES_MAX) in the app, against a real PostgreSQL: the
 * oldest request goes on, younger ones are refused 503 OVER_MEMORY_BUDGET before or while their body is read, and a
 * refused batch is stored exactly once when it is sent again.
 */
import assert from "node:assert/strict";
import { createApp } from "../../../../handler/http/app.ts";
import { BYTES_HELD_PER_DECODED_BYTE, MemoryBudget } from "../../../../handler/http/events/memory_budget.ts";
import { createLogger } from "../../../../shared/telemetry/log.ts";
import { assertProblem, countRows, eventRecord, ndjson, post, TOKEN, withApp } from "../app_harness.ts";

const encoder = new TextEncoder();
const DECODED_BODY_BYTES_MAX = 4096;

/** A request body the test feeds line by line, keeping it open until `end()`. */
function openBody(): { request: Request; send(text: string): Promise<void>; end(): Promise<void> } {
  const stream = new TransformStream<Uint8Array, Uint8Array>();
  const writer = stream.writable.getWriter();
  const request = new Request("http://handler.test/v1/events", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
    body: stream.readable,
  });
  return { request, send: (text) => writer.write(encoder.encode(text)), end: () => writer.close() };
}

/** Resolves once the budget holds `bytes`: the app has read and charged what was sent. */
async function untilUsed(memory: MemoryBudget, bytes: number): Promise<void> {
  for (let turns = 0; memory.usedBytes !== bytes; turns++) {
    assert.ok(turns < 1000, `the budget holds ${memory.usedBytes} bytes, not ${bytes}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

Deno.test("POST /v1/events refuses younger batches past REQUESTS_MEMORY_BYTES_MAX with 503 OVER_MEMORY_BUDGET while the oldest goes on, and stores each once on retry", async () => {
  const oldestLine = ndjson([eventRecord()]);
  const youngerLine = ndjson([eventRecord()]);
  const tooMuch = ndjson([eventRecord(), eventRecord()]);
  const later = ndjson([eventRecord()]);
  const charge = (text: string) => BYTES_HELD_PER_DECODED_BYTE * encoder.encode(text).length;
  // The oldest request's headroom, and room for exactly one more line beside it.
  const bytesMax = BYTES_HELD_PER_DECODED_BYTE * DECODED_BODY_BYTES_MAX + charge(youngerLine);
  await withApp(async (h) => {
    const memory = new MemoryBudget({
      bytesMax,
      requestBytesMax: BYTES_HELD_PER_DECODED_BYTE * DECODED_BODY_BYTES_MAX,
    });
    const logger = createLogger({ isDebug: false, write: (line) => h.logs.push(line) });
    const app = createApp({ config: h.config, store: h.store, logger, memory });

    const oldest = openBody();
    const oldestAnswer = app.fetch(oldest.request);
    await oldest.send(oldestLine);
    await untilUsed(memory, charge(oldestLine));
    const younger = openBody();
    const youngerAnswer = app.fetch(younger.request);
    await younger.send(youngerLine);
    await untilUsed(memory, charge(oldestLine) + charge(youngerLine));

    // Everything outside the oldest one's headroom is held: a new batch is refused before its body is read.
    const refused = await post(app, later);
    assertProblem(refused, 503, "OVER_MEMORY_BUDGET");
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(
      refused.body.detail,
      `Cannot take the batch: the 2 in progress use the memory budget (REQUESTS_MEMORY_BYTES_MAX, ${bytesMax} bytes); ` +
        "nothing was written; retry",
    );

    await younger.end();
    assert.deepEqual(await (await youngerAnswer).json(), { accepted: 1, duplicates: 0, rejected: [] });
    // Beside the oldest request, two lines do not fit where one does: refused while its body is read.
    const cut = await post(app, tooMuch, { isGzip: false });
    assertProblem(cut, 503, "OVER_MEMORY_BUDGET");
    assert.equal(cut.headers.get("retry-after"), "1");
    assert.equal(
      cut.body.detail,
      "Cannot hold the rest of the body: the batches in flight use the memory budget (REQUESTS_MEMORY_BYTES_MAX); " +
        "nothing was written; retry",
    );
    assert.equal(await countRows(h.sql, h.schema), 1);
    // Load shed on purpose: a warning each, no error.
    const entries = h.logs.map((line) => JSON.parse(line) as { level: string; msg: string; code?: string });
    const warning = ["warn", "request refused: the memory budget is in use", "OVER_MEMORY_BUDGET"];
    assert.deepEqual(entries.filter((e) => e.code === "OVER_MEMORY_BUDGET").map((e) => [e.level, e.msg, e.code]), [
      warning,
      warning,
    ]);
    assert.equal(entries.filter((e) => e.level === "error").length, 0);

    // The oldest request was never refused, whatever the others held.
    await oldest.send(ndjson([eventRecord()]));
    await oldest.end();
    assert.deepEqual(await (await oldestAnswer).json(), { accepted: 2, duplicates: 0, rejected: [] });
    assert.equal(memory.usedBytes, 0);

    // Sent again, the refused batches are stored, each once.
    assert.deepEqual((await post(app, tooMuch, { isGzip: false })).body, { accepted: 2, duplicates: 0, rejected: [] });
    assert.deepEqual((await post(app, later)).body, { accepted: 1, duplicates: 0, rejected: [] });
    const [counts] = await h.sql.unsafe(
      `select count(*)::int as n, count(distinct (global_uid, resource_version))::int as distinct_n
         from "${h.schema}".k8s_events`,
    );
    assert.deepEqual([counts?.n, counts?.distinct_n], [6, 6]);
    assert.equal(memory.usedBytes, 0);
  }, { DECODED_BODY_BYTES_MAX: String(DECODED_BODY_BYTES_MAX), REQUESTS_MEMORY_BYTES_MAX: String(bytesMax) });
});

Deno.test("POST /v1/events charges the budget by decoded bytes and releases it when the answer is given", async () => {
  await withApp(async (h) => {
    const memory = new MemoryBudget({ bytesMax: 1_000_000, requestBytesMax: 1_000_000 });
    const logger = createLogger({ isDebug: false, write: (line) => h.logs.push(line) });
    const app = createApp({ config: h.config, store: h.store, logger, memory });
    const text = ndjson([eventRecord(), eventRecord(), eventRecord()]);
    const body = openBody();
    const answer = app.fetch(body.request);
    await body.send(text);
    await untilUsed(memory, BYTES_HELD_PER_DECODED_BYTE * encoder.encode(text).length);
    await body.end();
    assert.deepEqual(await (await answer).json(), { accepted: 3, duplicates: 0, rejected: [] });
    assert.equal(memory.usedBytes, 0);
  });
});
