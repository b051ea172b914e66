/**
 * The gzip decoding of toDecodedBodyStream against the web DecompressionStream, the decoder it replaced: the same
 * bytes out for every body either takes, the same INVALID_GZIP for every body DecompressionStream refuses (a second
 * member, trailing bytes, a broken trailer), however the body is cut into chunks.
 */
import assert from "node:assert/strict";
import { toDecodedBodyStream } from "../../../../handler/http/events/body_stream.ts";
import { HttpError } from "../../../../handler/http/http_error.ts";
import { gzip } from "../../../support/gzip.ts";

const LIMITS = { bodyBytesMax: 16 * 1024 * 1024, decodedBodyBytesMax: 64 * 1024 * 1024, bodyIdleTimeoutS: 30 };

/** The body cut into chunks of `size` bytes, as a request body may arrive. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.slice(at, at + size));
  return ReadableStream.from(chunks);
}

/** The decoded bytes as hex of their SHA-256, or the code of the HttpError the stream fails with. */
async function decode(body: ReadableStream<Uint8Array>): Promise<string> {
  try {
    const bytes = await new Response(toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS })).bytes();
    return `${bytes.length}:${await digest(bytes)}`;
  } catch (error) {
    assert.ok(error instanceof HttpError, String(error));
    return error.code;
  }
}

/** What the web DecompressionStream makes of the same bytes, in the same form; an empty body is empty. */
async function decodeWithDecompressionStream(bytes: Uint8Array): Promise<string> {
  if (bytes.length === 0) return `0:${await digest(new Uint8Array(0))}`;
  try {
    // The DOM typing takes BufferSource chunks; Uint8Array chunks are exactly that at runtime.
    const decompressor = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
    const decoded = await new Response(chunked(bytes, 8192).pipeThrough(decompressor)).bytes();
    return `${decoded.length}:${await digest(decoded)}`;
  } catch {
    return "INVALID_GZIP";
  }
}

async function digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Text that compresses well and text that does not, so decoded pieces are both small and full. */
function sampleText(seed: number, lines: number): string {
  let state = seed;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    out.push(`{"n":${i},"noise":"${state.toString(36).repeat(1 + state % 40)}","€":"ü\\u00e9"}`);
  }
  return out.join("\n") + "\n";
}

Deno.test("toDecodedBodyStream decodes gzip as DecompressionStream does, body and refusal, in any chunking", async () => {
  const member = await gzip(sampleText(7, 400));
  const small = await gzip("hello\n");
  const empty = await gzip(new Uint8Array(0));
  const bodies: Record<string, Uint8Array> = {
    member,
    small,
    "empty member": empty,
    "no bytes": new Uint8Array(0),
    "two members": new Uint8Array([...small, ...member]),
    "member and one byte": new Uint8Array([...member, 1]),
    "member and zero bytes": new Uint8Array([...member, 0, 0, 0, 0, 0, 0, 0, 0]),
    "member, zero and other bytes": new Uint8Array([...member, 0, 7, 7]),
    "member and its trailer again": new Uint8Array([...member, ...member.subarray(member.length - 8)]),
    // The decoder ignores all after a zero byte; ending in the member's length does not make it one member.
    "member, zero and its length": new Uint8Array([...member, 0, ...member.subarray(member.length - 4)]),
    "truncated trailer": member.subarray(0, member.length - 3),
    "truncated data": member.subarray(0, member.length >> 1),
    "header only": member.subarray(0, 10),
    "wrong length": new Uint8Array([...member.subarray(0, member.length - 1), member.at(-1)! ^ 1]),
    "wrong checksum": new Uint8Array([
      ...member.subarray(0, member.length - 8),
      member.at(-8)! ^ 1,
      ...member.subarray(-7),
    ]),
    "not gzip": new TextEncoder().encode("not gzip at all"),
  };
  for (const [name, bytes] of Object.entries(bodies)) {
    const expected = await decodeWithDecompressionStream(bytes);
    for (const size of [1, 3, 4, 5, 7, 8192, 1 << 20]) {
      assert.equal(await decode(chunked(bytes, size)), expected, `${name} in chunks of ${size}`);
    }
  }
  assert.equal(await decode(chunked(bodies["two members"]!, 100)), "INVALID_GZIP");
  assert.equal(await decode(chunked(bodies["member and zero bytes"]!, 100)), "INVALID_GZIP");
});

Deno.test("toDecodedBodyStream decodes a member after members that decode to nothing, which decode to nothing", async () => {
  // The one body DecompressionStream refuses that is accepted: what it decodes to is exactly its last member's.
  const member = await gzip("hello\n");
  const empty = await gzip(new Uint8Array(0));
  const decoded = await new Response(
    toDecodedBodyStream(chunked(new Uint8Array([...empty, ...empty, ...member]), 5), { encoding: "gzip", ...LIMITS }),
  ).text();
  assert.equal(decoded, "hello\n");
});

Deno.test("toDecodedBodyStream hands out decoded pieces of at most 64 KiB and decodes no further until one is read", async () => {
  const member = await gzip(new Uint8Array(8 * 1024 * 1024));
  let pulledBytes = 0;
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= member.length) return controller.close();
      const chunk = member.subarray(offset, offset + 1024);
      offset += chunk.length;
      pulledBytes += chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  const reader = toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS }).getReader();
  const first = await reader.read();
  assert.equal(first.value?.byteLength, 64 * 1024);
  // Zeros deflate about 1000:1: a piece needs well under 1 KiB of input, and nothing more is read while it waits (the
  // streams before the decoder read one chunk ahead).
  const pulledForFirst = pulledBytes;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(pulledBytes, pulledForFirst);
  assert.ok(pulledForFirst <= 2 * 1024, `read ${pulledForFirst} bytes for the first piece`);
  let decodedBytes = first.value!.byteLength;
  for (let result = await reader.read(); !result.done; result = await reader.read()) {
    assert.ok(result.value.byteLength <= 64 * 1024, `a piece of ${result.value.byteLength} bytes`);
    decodedBytes += result.value.byteLength;
  }
  assert.equal(decodedBytes, 8 * 1024 * 1024);
});

Deno.test("toDecodedBodyStream cancels the request body when the decoded stream is cancelled mid-member", async () => {
  const member = await gzip(sampleText(3, 20_000));
  let cancelled: unknown = "not cancelled";
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(member.subarray(offset, offset + 4096));
      offset += 4096;
    },
    cancel(reason) {
      cancelled = reason;
    },
  }, { highWaterMark: 0 });
  const reader = toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS }).getReader();
  assert.equal((await reader.read()).done, false);
  await reader.cancel("stop");
  // The cancel travels up the pipes between the streams, a few microtasks each.
  for (let waitedMs = 0; cancelled === "not cancelled" && waitedMs < 1_000; waitedMs += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(cancelled, "stop");
  assert.ok(offset < member.length, "the body was read whole");
});
