import assert from "node:assert/strict";
import { gunzipLines, gzipLines } from "../../../relay/send/gzip_ndjson.ts";

const LINES = ['{"v":1,"kind":"event","message":"Back-off restarting ü"}\n', '{"v":1,"kind":"gap"}\n'];

/** Decompresses with the web platform's own gzip, independent of the codec under test. */
async function gunzipWithStreams(body: Uint8Array<ArrayBuffer>): Promise<string> {
  return await new Response(new Blob([body]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}

Deno.test("gzipLines makes one gzip member holding the lines as they are", async () => {
  const body = await gzipLines(LINES);
  assert.deepEqual([body[0], body[1]], [0x1f, 0x8b]);
  assert.equal(await gunzipWithStreams(body), LINES.join(""));
});

Deno.test("gzipLines compresses a repetitive batch to a small fraction of its size", async () => {
  const lines = Array.from({ length: 1_000 }, (_, i) => `{"v":1,"kind":"event","event":{"count":${i}}}\n`);
  const body = await gzipLines(lines);
  const bytes = new TextEncoder().encode(lines.join("")).length;
  assert.ok(body.length * 10 < bytes, `${body.length} compressed bytes for ${bytes}`);
});

Deno.test("gunzipLines gives back each line with its line end", async () => {
  assert.deepEqual(await gunzipLines(await gzipLines(LINES)), LINES);
  assert.deepEqual(await gunzipLines(await gzipLines([])), []);
});

Deno.test("gunzipLines rejects a body that is not gzip", async () => {
  await assert.rejects(gunzipLines(new TextEncoder().encode("plain text\n") as Uint8Array<ArrayBuffer>));
});
