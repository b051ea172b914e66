import assert from "node:assert/strict";
import { readBatchStream } from "../../../handler/ingest/batch_reader.ts";
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
