import assert from "node:assert/strict";
import { addRefusedRows, readBatchStream } from "../../../handler/ingest/batch_reader.ts";
import { HttpError } from "../../../handler/http/http_error.ts";
import { eventRecord, gapRecord, ndjson } from "../http/app_harness.ts";

const options = { cluster: "cluster-a", lineBytesMax: 1 << 20, recordsMax: 100, jsonDepthMax: 32 };

function bodyOf(text: string, pieceBytes = 1000): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += pieceBytes) pieces.push(bytes.subarray(i, i + pieceBytes));
  return ReadableStream.from(pieces);
}

Deno.test("readBatchStream hands out rows in chunks once their raw text reaches chunkRawCharsMin", async () => {
  const records = Array.from({ length: 10 }, () => eventRecord());
  const text = ndjson([records[0]!, "nope", gapRecord(), ...records.slice(1)]);
  const batch = readBatchStream(bodyOf(text, 400), { ...options, chunkRawCharsMin: 1500 });
  assert.deepEqual([batch.rows.length, batch.gaps.length, batch.rejected.length], [0, 0, 0], "nothing read yet");
  const chunks = await Array.fromAsync(batch.chunks);
  const rawChars = batch.rows[0]!.raw.length;
  assert.ok(rawChars > 300 && rawChars < 1500, `raw is ${rawChars} characters`);
  assert.equal(chunks.flat().length, 10);
  assert.deepEqual(chunks.flat(), batch.rows);
  for (const chunk of chunks.slice(0, -1)) {
    assert.ok(chunk.reduce((sum, row) => sum + row.raw.length, 0) >= 1500);
  }
  assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
  assert.deepEqual(batch.rows.map((row) => row.uid), records.map((r) => (r.event.metadata as { uid: string }).uid));
  assert.deepEqual(batch.gaps, [gapRecord()]);
  assert.deepEqual(batch.rejected.map((r) => [r.line, r.code]), [[2, "INVALID_JSON"]]);
});

Deno.test("readBatchStream throws TOO_MANY_RECORDS while iterating, after the chunks before it", async () => {
  const lines = Array.from({ length: 4 }, () => ndjson([eventRecord()]));
  const body = ReadableStream.from(lines.map((line) => new TextEncoder().encode(line)));
  const batch = readBatchStream(body, {
    ...options,
    recordsMax: 3,
    chunkRawCharsMin: 1,
  });
  const seen: number[] = [];
  await assert.rejects(
    async () => {
      for await (const chunk of batch.chunks) seen.push(chunk.length);
    },
    (error: unknown) => error instanceof HttpError && error.code === "TOO_MANY_RECORDS",
  );
  // One body piece per line: each row is handed out before the next piece is read.
  assert.deepEqual(seen, [1, 1, 1]);
});

Deno.test("readBatchStream rejects events lacking a required column's field with MISSING_FIELD, keeping lines", async () => {
  const valid = eventRecord();
  const untyped = eventRecord();
  delete untyped.event.type;
  const nameless = eventRecord();
  delete (nameless.event.involvedObject as Record<string, unknown>).name;
  const text = ndjson([valid, "", untyped, nameless, eventRecord()]);
  const batch = readBatchStream(bodyOf(text), {
    ...options,
    requiredColumns: new Set(["event_type", "resource_name"] as const),
  });
  await Array.fromAsync(batch.chunks);
  assert.deepEqual(batch.rejected, [
    {
      line: 3,
      code: "MISSING_FIELD",
      message:
        "Cannot store line 3: field event.type is missing or empty, and column event_type of k8s_events is NOT NULL",
    },
    {
      line: 4,
      code: "MISSING_FIELD",
      message:
        "Cannot store line 4: field event.involvedObject.name is missing or empty, and column resource_name of " +
        "k8s_events is NOT NULL",
    },
  ]);
  assert.deepEqual(batch.lines, [1, 5]);
  assert.equal(batch.rows.length, 2);
});

Deno.test("addRefusedRows lists the refused rows as ROW_REFUSED at their own lines, rejected kept in line order", async () => {
  const records = Array.from({ length: 4 }, () => eventRecord());
  const batch = readBatchStream(bodyOf(ndjson([records[0]!, "nope", records[1]!, records[2]!, records[3]!])), options);
  await Array.fromAsync(batch.chunks);
  assert.deepEqual(batch.lines, [1, 3, 4, 5]);
  addRefusedRows(batch, [
    { row: batch.rows[3]!, reason: "SQLSTATE 23514 check_violation" },
    { row: batch.rows[0]!, reason: 'SQLSTATE 23502 not_null_violation, column "reason"' },
  ]);
  assert.deepEqual(batch.rejected.map(({ line, code }) => [line, code]), [
    [1, "ROW_REFUSED"],
    [2, "INVALID_JSON"],
    [5, "ROW_REFUSED"],
  ]);
  assert.equal(
    batch.rejected[0]!.message,
    'Cannot store line 1: the database refused the row (SQLSTATE 23502 not_null_violation, column "reason")',
  );
  assert.equal(
    batch.rejected[2]!.message,
    "Cannot store line 5: the database refused the row (SQLSTATE 23514 check_violation)",
  );
  addRefusedRows(batch, []);
  assert.equal(batch.rejected.length, 3);
});
