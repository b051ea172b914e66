import assert from "node:assert/strict";
import {
  encodeNdjson,
  type NdjsonLine,
  NdjsonLineSplitter,
  NdjsonLineStream,
} from "../../../shared/contract/ndjson.ts";

async function split(chunks: (string | Uint8Array)[], lineBytesMax = 64): Promise<NdjsonLine[]> {
  const encoder = new TextEncoder();
  const stream = ReadableStream.from(chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c))
    .pipeThrough(new NdjsonLineStream({ lineBytesMax }));
  return await Array.fromAsync(stream);
}

Deno.test("encodeNdjson writes one compact object per line", () => {
  assert.equal(encodeNdjson([{ a: 1 }, { b: "x" }]), '{"a":1}\n{"b":"x"}\n');
});

Deno.test("NdjsonLineStream joins lines split across chunks and strips CRLF", async () => {
  assert.deepEqual(await split(['{"a":', '1}\r\n{"b"', ":2}"]), [
    { line: 1, text: '{"a":1}' },
    { line: 2, text: '{"b":2}' },
  ]);
});

Deno.test("NdjsonLineStream skips blank lines but counts them", async () => {
  assert.deepEqual(await split(["\n  \r\n{}\n\n"]), [{ line: 3, text: "{}" }]);
});

Deno.test("NdjsonLineStream reports a line over lineBytesMax as LINE_TOO_LONG and goes on", async () => {
  const lines = await split(["x".repeat(40), "y".repeat(40), "\n{}\n"], 64);
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0], {
    line: 1,
    error: { line: 1, code: "LINE_TOO_LONG", message: "Cannot read line 1: longer than 64 bytes" },
  });
  assert.deepEqual(lines[1], { line: 2, text: "{}" });
});

Deno.test("NdjsonLineStream accepts a line of exactly lineBytesMax bytes with CRLF", async () => {
  const text = "z".repeat(64);
  assert.deepEqual(await split([text + "\r\n"], 64), [{ line: 1, text }]);
});

Deno.test("NdjsonLineStream reports invalid UTF-8 for that line only", async () => {
  const lines = await split([new Uint8Array([0x7b, 0xff, 0x7d, 10]), "{}\n"]);
  assert.deepEqual(lines, [
    { line: 1, error: { line: 1, code: "INVALID_UTF8", message: "Cannot read line 1: it is not valid UTF-8" } },
    { line: 2, text: "{}" },
  ]);
});

Deno.test("NdjsonLineStream counts runs of blank and whitespace-only lines across chunks", async () => {
  assert.deepEqual(await split([" \n \r", "\n\t\n", "\n".repeat(1000), '  {"a":1}\n', "\r\n", "  ", '{"b":2}']), [
    { line: 1004, text: '  {"a":1}' },
    { line: 1006, text: '  {"b":2}' },
  ]);
});

Deno.test("NdjsonLineStream skips 64 MiB of blank lines and numbers the next line", async () => {
  const blank = new Uint8Array(1024 * 1024).fill(10);
  const chunks: Uint8Array[] = [...Array.from({ length: 64 }, () => blank), new TextEncoder().encode("{}\n")];
  assert.deepEqual(await split(chunks), [{ line: 64 * 1024 * 1024 + 1, text: "{}" }]);
});

/** A body exercising every way a line can end up, with its lines as NdjsonLineSplitter must give them. */
function mixedBody(): { bytes: Uint8Array; expected: NdjsonLine[] } {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [
    encoder.encode('{"a":"é"}\n'), // 1: two-byte character
    encoder.encode("\r\n  \n"), // 2, 3: blank lines
    encoder.encode('{"b":"🎉"}\r\n'), // 4: four-byte character, CRLF
    new Uint8Array([0x7b, 0xc3, 0x28, 0x7d, 0x0a]), // 5: malformed UTF-8
    encoder.encode('{"c":"\uFFFD"}\n'), // 6: U+FFFD sent as such is valid
    encoder.encode(`${"€".repeat(21)}\n`), // 7: 63 bytes (21 three-byte characters): at the limit
    encoder.encode(`${"€".repeat(21)}x\n`), // 8: 64 bytes: one over
    encoder.encode(`  {"d":1}  \n`), // 9: spaces around are kept
    encoder.encode(`{"e":2}`), // 10: no line end
  ];
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  const expected: NdjsonLine[] = [
    { line: 1, text: '{"a":"é"}' },
    { line: 4, text: '{"b":"🎉"}' },
    { line: 5, error: { line: 5, code: "INVALID_UTF8", message: "Cannot read line 5: it is not valid UTF-8" } },
    { line: 6, text: '{"c":"\uFFFD"}' },
    { line: 7, text: "€".repeat(21) },
    { line: 8, error: { line: 8, code: "LINE_TOO_LONG", message: "Cannot read line 8: longer than 63 bytes" } },
    { line: 9, text: '  {"d":1}  ' },
    { line: 10, text: '{"e":2}' },
  ];
  return { bytes, expected };
}

function splitWith(chunks: Uint8Array[], lineBytesMax: number): NdjsonLine[] {
  const splitter = new NdjsonLineSplitter({ lineBytesMax });
  return [...chunks.flatMap((chunk) => splitter.push(chunk)), ...splitter.flush()];
}

Deno.test("NdjsonLineSplitter gives the same lines whole and cut at every byte, malformed and over-long lines included", () => {
  const { bytes, expected } = mixedBody();
  assert.deepEqual(splitWith([bytes], 63), expected);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(splitWith([bytes.subarray(0, cut), bytes.subarray(cut)], 63), expected, `cut at ${cut}`);
  }
  assert.deepEqual(splitWith([...bytes].map((byte) => new Uint8Array([byte])), 63), expected);
});

Deno.test("NdjsonLineSplitter counts an over-long line of multi-byte characters by its UTF-8 bytes", () => {
  // 30 code units: under the limit counted as UTF-16 units, 90 bytes in UTF-8.
  const text = "€".repeat(30);
  const lines = splitWith([new TextEncoder().encode(`${text}\n{}\n`)], 89);
  assert.deepEqual(lines, [
    { line: 1, error: { line: 1, code: "LINE_TOO_LONG", message: "Cannot read line 1: longer than 89 bytes" } },
    { line: 2, text: "{}" },
  ]);
  assert.deepEqual(splitWith([new TextEncoder().encode(`${text}\n`)], 90), [{ line: 1, text }]);
});

Deno.test("NdjsonLineSplitter gives each line of a chunk as its own text", () => {
  const lines = splitWith([new TextEncoder().encode('{"a":1}\n{"b":2}\n')], 64);
  assert.deepEqual(lines, [{ line: 1, text: '{"a":1}' }, { line: 2, text: '{"b":2}' }]);
});
