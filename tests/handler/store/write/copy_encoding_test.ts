import assert from "node:assert/strict";
import { COPY_COLUMNS, toCopyChunks, toCopyLine, toCopyValue } from "../../../../handler/store/write/copy_encoding.ts";
import { type EventRow, NULLABLE_COLUMN_SOURCES } from "../../../../shared/contract/event_row.ts";
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

Deno.test("toCopyValue escapes backslashes before the escapes it adds, and a minified event's quotes", () => {
  assert.equal(toCopyValue("\\\t"), "\\\\\\t");
  assert.equal(toCopyValue("a\\nb"), "a\\\\nb");
  assert.equal(toCopyValue('{"m":"say \\"hi\\"\\n"}'), '{"m":"say \\\\"hi\\\\"\\\\n"}');
  assert.equal(toCopyValue("\r\n\t"), "\\r\\n\\t");
});

Deno.test("toCopyChunks writes the lines' exact UTF-8, multi-byte characters and a line far longer than the rest", () => {
  const long = "é🎉€".repeat(50_000);
  const rows = [
    makeRow("c1", 1, { message: "ü 🎉 tab\there" }),
    makeRow("c1", 2, { message: long, raw: JSON.stringify({ note: long }) }),
    makeRow("c1", 3, { namespace: "\\N", message: "back\\slash" }),
    makeRow("c1", 4),
  ];
  const chunkBytesMin = 4096;
  const chunks = [...toCopyChunks(rows, { chunkBytesMin })];
  const expected = new TextEncoder().encode(rows.map(toCopyLine).join(""));
  const joined = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.length;
  }
  assert.deepEqual(joined, expected);
  chunks.slice(0, -1).forEach((chunk) => assert.ok(chunk.length >= chunkBytesMin, `chunk of ${chunk.length} bytes`));
  chunks.forEach((chunk) => assert.equal(chunk[chunk.length - 1], 10));
  assert.deepEqual(chunks.map((chunk) => chunk.filter((byte) => byte === 10).length), [2, 2]);
});

Deno.test("toCopyChunks throws RangeError for a NUL character, after the chunks before its row", () => {
  const rows = [makeRow("c1", 1), makeRow("c1", 2, { reason: "a\u0000b" })];
  const chunks = toCopyChunks(rows, { chunkBytesMin: 1 });
  assert.equal(chunks.next().done, false);
  assert.throws(() => chunks.next(), { name: "RangeError" });
});

/** The row keys in COPY_COLUMNS order, written out here so the reference below does not lean on toCopyLine. */
const ROW_KEYS = [
  "createdAt",
  "clusterName",
  "uid",
  "globalUid",
  "namespace",
  "resourceKind",
  "resourceName",
  "involvedObjectUid",
  "eventType",
  "reason",
  "message",
  "compositionId",
  "raw",
  "resourceVersion",
] as const;

/** The obviously correct COPY line: every value through toCopyValue, tab separated, newline ended. */
function toReferenceLine(row: Record<string, string | null>): string {
  return ROW_KEYS.map((key) => toCopyValue(row[key]!)).join("\t") + "\n";
}

/** Values that need no escape, ones that need each escape, and JSON text as JSON.stringify writes it. */
const VALUES = [
  "plain",
  "",
  "\\N",
  "a\\b",
  "tab\there",
  "line\nend",
  "cr\rhere",
  "\\\t\n\r\\",
  "ü 🎉 €",
  JSON.stringify({ m: 'say "hi"\n\tC:\\dir', n: [1.5] }),
  '{"not json',
];

Deno.test("toCopyLine writes what toCopyValue writes for each value, for any value in any column", () => {
  let seed = 11;
  const pick = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return VALUES[seed % VALUES.length]!;
  };
  const plain = Object.fromEntries(ROW_KEYS.map((key) => [key, `${key}-1`])) as Record<string, string | null>;
  const rows: Record<string, string | null>[] = [plain];
  // Each column with each value (and null where a column can be null), the others plain; then mixed rows.
  for (const key of ROW_KEYS) {
    for (const value of [...VALUES, null]) {
      if (value === null && !COPY_NULLABLE.has(key)) continue;
      rows.push({ ...plain, [key]: value });
    }
  }
  for (let i = 0; i < 2_000; i++) {
    rows.push(Object.fromEntries(ROW_KEYS.map((key) => [key, COPY_NULLABLE.has(key) && i % 7 === 0 ? null : pick()])));
  }
  for (const row of rows) {
    assert.equal(toCopyLine(row as unknown as EventRow), toReferenceLine(row), JSON.stringify(row));
  }
});

Deno.test("toCopyLine refuses a NUL character in any column, raw included", () => {
  const row = makeRow("c1", 1);
  for (const key of ROW_KEYS) {
    assert.throws(() => toCopyLine({ ...row, [key]: "a\u0000b" }), {
      name: "RangeError",
      message: "Cannot encode a value for COPY: it contains a NUL character",
    }, key);
  }
});

const COPY_NULLABLE = new Set<string>(Object.values(NULLABLE_COLUMN_SOURCES).map((source) => source.key));
