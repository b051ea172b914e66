import assert from "node:assert/strict";
import { isBodyFramingError, toDecodedBodyStream } from "../../../../handler/http/events/body_stream.ts";
import { HttpError } from "../../../../handler/http/http_error.ts";
import { BYTES_HELD_PER_DECODED_BYTE, MemoryBudget } from "../../../../handler/http/events/memory_budget.ts";
import { gzip } from "../../../support/gzip.ts";

const LIMITS = { bodyBytesMax: 1024 * 1024, decodedBodyBytesMax: 4 * 1024 * 1024, bodyIdleTimeoutS: 30 };

async function failure(stream: ReadableStream<Uint8Array>): Promise<HttpError> {
  try {
    await new Response(stream).bytes();
  } catch (error) {
    assert.ok(error instanceof HttpError, String(error));
    return error;
  }
  assert.fail("the body was read whole");
}

Deno.test("toDecodedBodyStream decodes gzip", async () => {
  const text = "line one\nline two\n".repeat(1000);
  const body = ReadableStream.from([await gzip(new TextEncoder().encode(text))]);
  const decoded = await new Response(toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS })).text();
  assert.equal(decoded, text);
});

Deno.test("toDecodedBodyStream passes identity bodies through and treats no body as empty", async () => {
  const body = ReadableStream.from([new TextEncoder().encode("abc")]);
  assert.equal(await new Response(toDecodedBodyStream(body, { encoding: "identity", ...LIMITS })).text(), "abc");
  assert.equal(await new Response(toDecodedBodyStream(null, { encoding: "gzip", ...LIMITS })).text(), "");
});

Deno.test("toDecodedBodyStream fails with BODY_TOO_LARGE past bodyBytesMax", async () => {
  const body = ReadableStream.from([new Uint8Array(600), new Uint8Array(600)]);
  const error = await failure(toDecodedBodyStream(body, { encoding: "identity", ...LIMITS, bodyBytesMax: 1000 }));
  assert.equal(error.code, "BODY_TOO_LARGE");
  assert.equal(error.message, "Cannot accept the body: more than 1000 bytes (BODY_BYTES_MAX) arrived (1200 so far)");
});

Deno.test("toDecodedBodyStream stops a gzip bomb at decodedBodyBytesMax after reading little of it", async () => {
  const bomb = await gzip(new Uint8Array(256 * 1024 * 1024));
  let pulledBytes = 0;
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bomb.length) return controller.close();
      const chunk = bomb.subarray(offset, offset + 16 * 1024);
      offset += chunk.length;
      pulledBytes += chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  const error = await failure(toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS }));
  assert.equal(error.code, "DECODED_BODY_TOO_LARGE");
  assert.equal(error.status, 413);
  assert.equal(error.message, "Cannot accept the body: it decodes to more than 4194304 bytes (DECODED_BODY_BYTES_MAX)");
  // 4 MiB decode from about 4 KiB of this input; what the pipeline reads ahead is a few 16 KiB chunks, not the body.
  assert.ok(pulledBytes <= 4 * 16 * 1024, `read ${pulledBytes} of ${bomb.length} compressed bytes`);
});

Deno.test("toDecodedBodyStream fails with INVALID_GZIP for truncated, corrupt or trailing data", async () => {
  const good = await gzip(new TextEncoder().encode("hello\n".repeat(100)));
  for (
    const bytes of [
      good.subarray(0, good.length - 6),
      new TextEncoder().encode("not gzip"),
      new Uint8Array([...good, 1]),
    ]
  ) {
    const error = await failure(toDecodedBodyStream(ReadableStream.from([bytes]), { encoding: "gzip", ...LIMITS }));
    assert.equal(error.code, "INVALID_GZIP");
    assert.equal(error.status, 400);
  }
});

Deno.test("toDecodedBodyStream reports a failing body as BODY_READ_FAILED", async () => {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(10));
      controller.error(new Error("connection reset"));
    },
  });
  const error = await failure(toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS }));
  assert.equal(error.code, "BODY_READ_FAILED");
  assert.equal(error.status, 503);
  assert.equal(error.message, "Cannot read the request body: it ended abruptly; nothing was written");
  assert.deepEqual(error.headers, { "retry-after": "1" });
});

Deno.test("toDecodedBodyStream fails with BODY_READ_TIMEOUT when the client stops sending, and cancels the body", async () => {
  let cancelled: unknown = "not cancelled";
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("line one\n"));
      // Nothing more ever arrives, and the stream is not closed: a client that stalls with its connection open.
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const started = performance.now();
  const error = await failure(toDecodedBodyStream(body, { encoding: "identity", ...LIMITS, bodyIdleTimeoutS: 0.2 }));
  const waitedMs = performance.now() - started;
  assert.equal(error.code, "BODY_READ_TIMEOUT");
  assert.equal(error.status, 408);
  assert.equal(
    error.message,
    "Cannot read the request body: no bytes arrived for 0.2 s (BODY_IDLE_TIMEOUT_S); nothing was written",
  );
  assert.ok(waitedMs >= 190 && waitedMs < 5_000, `failed after ${waitedMs} ms`);
  assert.equal(cancelled, undefined);
});

Deno.test("toDecodedBodyStream waits only for the client: a slow consumer does not time the body out", async () => {
  const text = "x".repeat(64 * 1024);
  const body = ReadableStream.from([new TextEncoder().encode(text), new TextEncoder().encode(text)]);
  const reader = toDecodedBodyStream(body, { encoding: "identity", ...LIMITS, bodyIdleTimeoutS: 0.05 }).getReader();
  let bytes = 0;
  for (let result = await reader.read(); !result.done; result = await reader.read()) {
    bytes += result.value.byteLength;
    // The consumer (the database, in the handler) takes four times the idle timeout between reads.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(bytes, 2 * text.length);
});

/** A body that delivers `head`, then fails its next read with `error`, as the runtime's request body does. */
function failingBody(head: Uint8Array, error: Error): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head);
      controller.error(error);
    },
  });
}

Deno.test("toDecodedBodyStream answers malformed chunked framing with 400 BODY_MALFORMED, not a retryable 503", async () => {
  // What Deno 2.9's HTTP/1 server fails the read with for a chunk not followed by CRLF or a size that is not hex.
  const framing = new Error("invalid HTTP/1 request: Invalid");
  const error = await failure(
    toDecodedBodyStream(failingBody(new TextEncoder().encode("{}\n"), framing), { encoding: "identity", ...LIMITS }),
  );
  assert.equal(error.code, "BODY_MALFORMED");
  assert.equal(error.status, 400);
  assert.equal(
    error.message,
    "Cannot read the request body: its HTTP/1.1 chunked framing is invalid; nothing was written",
  );
  assert.deepEqual(error.headers, {});
  assert.equal(error.cause, framing);
});

Deno.test("isBodyFramingError is true only for the runtime's plain Error about invalid HTTP/1 framing", () => {
  assert.equal(isBodyFramingError(new Error("invalid HTTP/1 request: Invalid")), true);
  // A client gone mid-body: the runtime's BadResource, retried as BODY_READ_FAILED.
  assert.equal(
    isBodyFramingError(new Deno.errors.BadResource("Cannot read request body as underlying resource unavailable")),
    false,
  );
  assert.equal(isBodyFramingError(new TypeError("invalid HTTP/1 request: Invalid")), false);
  assert.equal(isBodyFramingError(new Error("connection reset")), false);
  assert.equal(isBodyFramingError("invalid HTTP/1 request: Invalid"), false);
});

Deno.test("toDecodedBodyStream charges the reservation BYTES_HELD_PER_DECODED_BYTE for each decoded byte", async () => {
  const memory = new MemoryBudget({ bytesMax: 1_000_000, requestBytesMax: 1_000_000 });
  const reservation = memory.open();
  const text = "line one\nline two\n".repeat(1000);
  const body = ReadableStream.from([await gzip(new TextEncoder().encode(text))]);
  const decoded = await new Response(toDecodedBodyStream(body, { encoding: "gzip", ...LIMITS, memory: reservation }))
    .text();
  assert.equal(decoded, text);
  assert.equal(BYTES_HELD_PER_DECODED_BYTE, 4);
  assert.equal(reservation.bytes, 4 * text.length);
  assert.equal(memory.usedBytes, 4 * text.length);
});

Deno.test("toDecodedBodyStream fails with 503 OVER_MEMORY_BUDGET when a younger request's charge does not fit", async () => {
  // The oldest request keeps 400 bytes of headroom; a younger one may hold 100, so 25 decoded bytes.
  const memory = new MemoryBudget({ bytesMax: 500, requestBytesMax: 400 });
  memory.open();
  const younger = memory.open();
  const body = ReadableStream.from([new Uint8Array(20), new Uint8Array(20)]);
  const error = await failure(toDecodedBodyStream(body, { encoding: "identity", ...LIMITS, memory: younger }));
  assert.equal(error.code, "OVER_MEMORY_BUDGET");
  assert.equal(error.status, 503);
  assert.equal(
    error.message,
    "Cannot hold the rest of the body: the batches in flight use the memory budget (REQUESTS_MEMORY_BYTES_MAX); " +
      "nothing was written; retry",
  );
  assert.deepEqual(error.headers, { "retry-after": "1" });
  assert.equal(younger.bytes, 80);
});
