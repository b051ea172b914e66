/**
 * A request body as a capped stream of decoded bytes: compressed bytes are counted as they arrive, gzip is decoded
 * in small steps, and decoded bytes are counted too, so neither a large body nor a gzip bomb is ever held whole.
 */
import { HttpError } from "./http_error.ts";

/** How a body is encoded on the wire. */
export type BodyEncoding = "gzip" | "identity";

/** The body's encoding and the two byte caps. */
export interface DecodedBodyOptions {
  encoding: BodyEncoding;
  /** Bytes as they arrive (compressed); over this the stream fails with BODY_TOO_LARGE. */
  bodyBytesMax: number;
  /** Bytes after decoding; over this the stream fails with DECODED_BODY_TOO_LARGE. */
  decodedBodyBytesMax: number;
  /** Seconds a read may wait for the client's next bytes; past this the stream fails with BODY_READ_TIMEOUT. */
  bodyIdleTimeoutS: number;
}

/**
 * Compressed input is cut into pieces of at most this many bytes before decoding: deflate expands at most about
 * 1032:1, so one decoded chunk stays under ~8.5 MB whatever the client sends.
 */
const INFLATE_STEP_BYTES = 8 * 1024;

/**
 * Returns the decoded body; an empty body decodes to nothing in either encoding. The stream fails with an HttpError:
 * BODY_TOO_LARGE, DECODED_BODY_TOO_LARGE, INVALID_GZIP (corrupt, truncated or trailing data), BODY_READ_FAILED (the
 * client went away mid-body) or BODY_READ_TIMEOUT (the client stopped sending without going away).
 */
export function toDecodedBodyStream(
  body: ReadableStream<Uint8Array> | null,
  options: DecodedBodyOptions,
): ReadableStream<Uint8Array> {
  const source = tagReadErrors(body ?? ReadableStream.from<Uint8Array>([]), options.bodyIdleTimeoutS);
  const compressed = source.pipeThrough(
    capBytes(options.bodyBytesMax, (total) =>
      new HttpError(
        "BODY_TOO_LARGE",
        `Cannot accept the body: more than ${options.bodyBytesMax} bytes (BODY_BYTES_MAX) arrived (${total} so far)`,
      )),
  );
  const decoded = options.encoding === "gzip" ? inflate(compressed) : compressed;
  return decoded.pipeThrough(
    capBytes(options.decodedBodyBytesMax, () =>
      new HttpError(
        "DECODED_BODY_TOO_LARGE",
        `Cannot accept the body: it decodes to more than ${options.decodedBodyBytesMax} bytes (DECODED_BODY_BYTES_MAX)`,
      )),
  );
}

function capBytes(max: number, toError: (total: number) => HttpError): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  return new TransformStream({
    transform(chunk, controller) {
      total += chunk.byteLength;
      if (total > max) throw toError(total);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Errors of the body itself become BODY_READ_FAILED, told apart from decoding errors. It is a 503, not a 400:
 * either the client went away (it sees a network error and retries) or the server cut the body while stopping,
 * and then the relay must retry the batch rather than drop it as a bad request. A client that keeps the connection
 * open but stops sending gets BODY_READ_TIMEOUT after `idleTimeoutS`, so it cannot hold a request slot and a
 * database transaction for ever. Only waits for the client count: while the consumer is busy, nothing is read.
 */
function tagReadErrors(body: ReadableStream<Uint8Array>, idleTimeoutS: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<"idle">((resolve) => timer = setTimeout(() => resolve("idle"), idleTimeoutS * 1000));
      let result: ReadableStreamReadResult<Uint8Array> | "idle";
      try {
        result = await Promise.race([reader.read(), idle]);
      } catch (error) {
        controller.error(
          new HttpError("BODY_READ_FAILED", "Cannot read the request body: it ended abruptly; nothing was written", {
            cause: error,
            headers: { "retry-after": "1" },
          }),
        );
        return;
      } finally {
        clearTimeout(timer);
      }
      if (result === "idle") {
        controller.error(
          new HttpError(
            "BODY_READ_TIMEOUT",
            `Cannot read the request body: no bytes arrived for ${idleTimeoutS} s (BODY_IDLE_TIMEOUT_S); nothing was written`,
          ),
        );
        // The read in progress ends with the cancel; the client's connection is closed with the response.
        reader.cancel().catch(() => {});
        return;
      }
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function inflate(compressed: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let compressedBytes = 0;
  const steps = compressed.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>(
      {
        transform(chunk, controller) {
          compressedBytes += chunk.byteLength;
          for (let at = 0; at < chunk.byteLength; at += INFLATE_STEP_BYTES) {
            controller.enqueue(chunk.subarray(at, at + INFLATE_STEP_BYTES));
          }
        },
      },
      undefined,
      { highWaterMark: 0 },
    ),
  );
  // The DOM typing takes BufferSource chunks; the request body's Uint8Array chunks are exactly that at runtime.
  const decompressor = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  const reader = steps.pipeThrough(decompressor).getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const result = await reader.read();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      } catch (error) {
        // An empty body is an empty batch whatever its declared encoding, not a broken gzip stream.
        if (compressedBytes === 0 && !(error instanceof HttpError)) return controller.close();
        // Limits and read failures upstream keep their own code; anything else is the decoder refusing the data.
        controller.error(
          error instanceof HttpError ? error : new HttpError(
            "INVALID_GZIP",
            "Cannot decode the body: the gzip stream is corrupt, truncated or followed by other data",
            { cause: error },
          ),
        );
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
