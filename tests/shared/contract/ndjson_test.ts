import assert from "node:assert/strict";
import { encodeNdjson, type NdjsonLine, NdjsonLineStream } from "../../../shared/contract/ndjson.ts";

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
