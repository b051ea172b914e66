import assert from "node:assert/strict";
import { COPY_COLUMNS, toCopyChunks, toCopyLine, toCopyValue } from "../../../../handler/store/write/copy_encoding.ts";
import { makeRow } from "../store_support.ts";

Deno.test("toCopyValue writes null as \\N and escapes backslash, tab, newline and carriage return", () => {
  assert.equal(toCopyValue(null), "\\N");
  assert.equal(toCopyValue("\\N"), "\\\\N");
  assert.equal(toCopyValue("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
  assert.equal(toCopyValue("'; drop table x; -- ü 🎉"), "'; drop table x; -- ü 🎉");
});

Deno.test("toCopyValue refuses a NUL character", () => {
  assert.throws(() => toCopyValue("a\u0000b"), {
    name: "RangeError",
    message: "Cannot encode a value for COPY: it contains a NUL character",
  });
});

Deno.test("toCopyLine writes the columns in COPY_COLUMNS order, tab separated, newline ended", () => {
  const row = makeRow("c1", 7, { namespace: null, message: "two\nlines", createdAt: "2026-11-20T10:00:00.123456Z" });
  const fields = toCopyLine(row).slice(0, -1).split("\t");
  assert.equal(fields.length, COPY_COLUMNS.length);
  assert.deepEqual(fields, [
    "2026-11-20T10:00:00.123456Z",
    "c1",
    row.uid,
    row.globalUid,
    "\\N",
    "v1.Pod",
    "pod-7",
    row.involvedObjectUid,
    "Normal",
    "Pulled",
    "two\\nlines",
    "\\N",
    row.raw,
    "1007",
  ]);
});

Deno.test("toCopyChunks cuts whole lines into chunks of at least chunkBytesMin", () => {
  const rows = [1, 2, 3, 4, 5].map((n) => makeRow("c1", n));
  const lineLength = toCopyLine(rows[0]!).length;
  const chunks = [...toCopyChunks(rows, { chunkBytesMin: lineLength * 2 })].map((chunk) =>
    new TextDecoder().decode(chunk)
  );
  assert.equal(chunks.length, 3);
  assert.equal(chunks.join(""), rows.map(toCopyLine).join(""));
  assert.deepEqual(chunks.map((chunk) => chunk.split("\n").length - 1), [2, 2, 1]);
});
