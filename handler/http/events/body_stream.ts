/**
 * A request body as a capped stream of decoded bytes: compressed bytes are counted as they arrive, gzip is decoded
 * in small steps, and decoded bytes are counted too, so neither a large body nor a gzip bomb is ever held whole.
 */
import { createGunzip } from "node:zlib";
import { HttpError } from "../http_error.ts";
import { BYTES_HELD_PER_DECODED_BYTE, type MemoryReservation, OverBudgetError } from "./memory_budget.ts";

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
  /**
   * Charged BYTES_HELD_PER_DECODED_BYTE for each decoded byte as it comes out; when a charge does not fit, the stream
   * fails with OVER_MEMORY_BUDGET. Without it nothing is charged.
   */
  memory?: MemoryReservation;
}

/** Seconds a client refused with OVER_MEMORY_BUDGET is asked to wait (Retry-After): requests end within seconds. */
export const OVER_BUDGET_RETRY_AFTER_S = 1;

/** The refusal of a request for the memory it would hold (503 OVER_MEMORY_BUDGET, with Retry-After). */
export function toOverBudgetHttpError(message: string, options?: ErrorOptions): HttpError {
  return new HttpError("OVER_MEMORY_BUDGET", message, {
    ...options,
    headers: { "retry-after": String(OVER_BUDGET_RETRY_AFTER_S) },
  });
}

/**
 * The decoder hands out decoded bytes in pieces of at most this many, and decodes no further while one is unread, so
 * what a request holds decoded ahead of its parser is bounded whatever the client sends.
 */
const INFLATE_PIECE_BYTES = 64 * 1024;

/**
 * Returns the decoded body; an empty body decodes to nothing in either encoding. The stream fails with an HttpError:
 * BODY_TOO_LARGE, DECODED_BODY_TOO_LARGE, INVALID_GZIP (corrupt, truncated or trailing data), BODY_MALFORMED (invalid
 * HTTP/1.1 chunked framing), BODY_READ_FAILED (the client went away mid-body) or BODY_READ_TIMEOUT (the client stopped
 * sending without going away).
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
    capBytes(
      options.decodedBodyBytesMax,
      () =>
        new HttpError(
          "DECODED_BODY_TOO_LARGE",
          `Cannot accept the body: it decodes to more than ${options.decodedBodyBytesMax} bytes (DECODED_BODY_BYTES_MAX)`,
        ),
      options.memory,
    ),
  );
}

/** Counts bytes against `max`; with `memory`, charges them (after the cap, so a charge never passes the cap). */
function capBytes(
  max: number,
  toError: (total: number) => HttpError,
  memory?: MemoryReservation,
): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  return new TransformStream({
    transform(chunk, controller) {
      total += chunk.byteLength;
      if (total > max) throw toError(total);
      if (memory !== undefined) chargeMemory(memory, chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}

function chargeMemory(memory: MemoryReservation, decodedBytes: number): void {
  try {
    memory.charge(decodedBytes * BYTES_HELD_PER_DECODED_BYTE);
  } catch (error) {
    if (!(error instanceof OverBudgetError)) throw error;
    throw toOverBudgetHttpError(
      "Cannot hold the rest of the body: the batches in flight use the memory budget (REQUESTS_MEMORY_BYTES_MAX); " +
        "nothing was written; retry",
      { cause: error },
    );
  }
}

/**
 * The message prefix of the error Deno 2.9's HTTP/1 server fails a request body's read with when the client's framing
 * is invalid (a chunk size that is not hex, a chunk not followed by CRLF, a malformed trailer): a plain `Error`, for
 * instance "invalid HTTP/1 request: Invalid". A client that goes away mid-body gives `Deno.errors.BadResource` instead.
 */
export const FRAMING_ERROR_PREFIX = "invalid HTTP/1 request";

/** True for a body read error that is the client's malformed HTTP/1 framing (see FRAMING_ERROR_PREFIX). */
export function isBodyFramingError(error: unknown): boolean {
  return error instanceof Error && error.constructor === Error && error.message.startsWith(FRAMING_ERROR_PREFIX);
}

/**
 * The HttpError a failed read of the body becomes. Malformed framing is the client's error: 400 BODY_MALFORMED, so
 * it is not retried as it is. Anything else is BODY_READ_FAILED, a 503, not a 400: either the client went away (it
 * sees a network error and retries; the answer reaches nobody) or the server cut the body while stopping, and then the
 * relay must retry the batch rather than drop it as a bad request. An error this code does not know stays a 503 too:
 * a 400 would make the relay drop a batch that a retry may store.
 */
function toBodyReadError(error: unknown): HttpError {
  if (isBodyFramingError(error)) {
    return new HttpError(
      "BODY_MALFORMED",
      "Cannot read the request body: its HTTP/1.1 chunked framing is invalid; nothing was written",
      { cause: error },
    );
  }
  return new HttpError("BODY_READ_FAILED", "Cannot read the request body: it ended abruptly; nothing was written", {
    cause: error,
    headers: { "retry-after": "1" },
  });
}

/**
 * Errors of the body itself become BODY_MALFORMED or BODY_READ_FAILED (toBodyReadError), told apart from decoding
 * errors. A client that keeps the connection open but stops sending gets BODY_READ_TIMEOUT after `idleTimeoutS`, so
 * it cannot hold a request slot and a database transaction for ever. Only waits for the client count: while the
 * consumer is busy, nothing is read.
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
        controller.error(toBodyReadError(error));
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

/** The error of a body the gzip decoder refuses, or whose end does not close its one member. */
function toInvalidGzipError(cause?: unknown): HttpError {
  return new HttpError(
    "INVALID_GZIP",
    "Cannot decode the body: the gzip stream is corrupt, truncated or followed by other data",
    { cause },
  );
}

/**
 * Decodes the gzip body with node:zlib's streaming decoder, which costs about half the CPU of the web
 * DecompressionStream (1.6 against 2.8 µs an event of the benchmark's batches, measured on the same bodies). Pulled:
 * a compressed chunk is written only when the decoder has no output left and has consumed the previous chunk, and the
 * decoder stops between pieces of INFLATE_PIECE_BYTES until they are read, so a gzip bomb is never decoded ahead of
 * the consumer.
 *
 * The decoder checks each member's CRC-32 and length itself, but also reads on after a member: a further member is
 * decoded too, and from a zero byte on the rest is ignored. The body must be one member, so its end is checked: all of
 * it consumed (the zero byte) and its last four bytes, the member's length modulo 2^32 (ISIZE, RFC 1952), equal to all
 * bytes decoded. A member before the last that decodes to something makes them differ (a body decodes to far less than
 * 4 GiB); only members that decode to nothing can come before the last unnoticed, and they change nothing decoded.
 */
function inflate(compressed: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = compressed.getReader();
  const decoder = createGunzip({ chunkSize: INFLATE_PIECE_BYTES });
  const end = new MemberEnd();
  let failure: unknown;
  let isEnded = false;
  let isInputDone = false;
  let isWriting = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  decoder.on("readable", notify);
  decoder.on("end", () => {
    isEnded = true;
    notify();
  });
  decoder.on("error", (error) => {
    failure ??= error;
    notify();
  });

  /** Decoded bytes read from the decoder and not handed out yet: read() returns all it holds, maybe two pieces. */
  let rest: Uint8Array | undefined;

  /** The next decoded piece, or undefined at the end of the member; throws what the input or the decoder throws. */
  async function nextPiece(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (failure !== undefined) throw failure;
      const piece = rest ?? decoder.read() as Uint8Array | null;
      rest = undefined;
      if (piece !== null) {
        if (piece.byteLength > INFLATE_PIECE_BYTES) rest = piece.subarray(INFLATE_PIECE_BYTES);
        const handed = piece.subarray(0, INFLATE_PIECE_BYTES);
        end.addDecoded(handed.byteLength);
        return handed;
      }
      if (isEnded) {
        if (!end.isMemberEnd(decoder.bytesWritten)) throw toInvalidGzipError();
        return undefined;
      }
      if (!isWriting && !isInputDone) {
        const result = await reader.read();
        if (result.done) {
          isInputDone = true;
          // An empty body is an empty batch whatever its declared encoding, not a broken gzip stream.
          if (end.compressedBytes === 0) return undefined;
          decoder.end();
        } else {
          end.addCompressed(result.value);
          isWriting = true;
          decoder.write(result.value, () => {
            isWriting = false;
            notify();
          });
        }
        continue;
      }
      await new Promise<void>((resolve) => wake = resolve);
    }
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const piece = await nextPiece();
        if (piece !== undefined) return controller.enqueue(piece);
        decoder.destroy();
        controller.close();
      } catch (error) {
        decoder.destroy();
        // Limits and read failures upstream keep their own code; anything else is the decoder refusing the data.
        controller.error(error instanceof HttpError ? error : toInvalidGzipError(error));
      }
    },
    cancel(reason) {
      decoder.destroy();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** What tells the end of the one gzip member of a body: bytes in and out, and the body's last four bytes. */
class MemberEnd {
  compressedBytes = 0;
  #decodedBytes = 0;
  /** The last four compressed bytes, the most recent last. */
  readonly #tail = new Uint8Array(4);

  addCompressed(chunk: Uint8Array): void {
    this.compressedBytes += chunk.byteLength;
    const kept = Math.min(chunk.byteLength, 4);
    this.#tail.copyWithin(0, kept);
    this.#tail.set(chunk.subarray(chunk.byteLength - kept), 4 - kept);
  }

  addDecoded(bytes: number): void {
    this.#decodedBytes += bytes;
  }

  /** True when the decoder consumed every byte and the last four are the length of all that was decoded (ISIZE). */
  isMemberEnd(consumedBytes: number): boolean {
    if (consumedBytes !== this.compressedBytes || this.compressedBytes < 4) return false;
    const size = (this.#tail[0]! | this.#tail[1]! << 8 | this.#tail[2]! << 16 | this.#tail[3]! << 24) >>> 0;
    return size === this.#decodedBytes % 2 ** 32;
  }
}
