/**
 * NDJSON framing: encoding records into lines, and splitting a byte stream back into numbered lines with a cap
 * on each line's size. Pure stream transforms; no I/O.
 */
import type { LineError } from "./line_error.ts";

/** Encodes records as NDJSON: one compact JSON object per line, each line ending in `\n`. */
export function encodeNdjson(records: readonly unknown[]): string {
  let out = "";
  for (const record of records) out += JSON.stringify(record) + "\n";
  return out;
}

/** One line of input: its text, or why it could not be read. `line` counts from 1, blank lines included. */
export type NdjsonLine = { line: number; text: string } | { line: number; error: LineError };

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;

/**
 * Splits a byte stream into NDJSON lines. Accepts `\n` and `\r\n` line ends and a last line without one; skips
 * blank lines (they still count for numbering). A line longer than `lineBytesMax` (without its line end) comes out
 * as a LINE_TOO_LONG error and its bytes are dropped as they arrive, so memory stays bounded; bytes that are not
 * UTF-8 give INVALID_UTF8 for that line only.
 */
export class NdjsonLineStream extends TransformStream<Uint8Array, NdjsonLine> {
  constructor(options: { lineBytesMax: number }) {
    const { lineBytesMax } = options;
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let isOversized = false;
    let line = 0;

    const emit = (controller: TransformStreamDefaultController<NdjsonLine>, tail: Uint8Array) => {
      line++;
      if (isOversized || pendingBytes + tail.length > lineBytesMax + 1) {
        controller.enqueue({
          line,
          error: {
            line,
            code: "LINE_TOO_LONG",
            message: `Cannot read line ${line}: longer than ${lineBytesMax} bytes`,
          },
        });
      } else {
        const bytes = pending.length === 0 ? tail : concat([...pending, tail], pendingBytes + tail.length);
        const end = bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN ? bytes.length - 1 : bytes.length;
        if (end > lineBytesMax) {
          controller.enqueue({
            line,
            error: {
              line,
              code: "LINE_TOO_LONG",
              message: `Cannot read line ${line}: longer than ${lineBytesMax} bytes`,
            },
          });
        } else if (!isBlank(bytes, end)) {
          try {
            controller.enqueue({ line, text: decoder.decode(bytes.subarray(0, end)) });
          } catch {
            // A fatal TextDecoder throws only on malformed UTF-8; the line is reported and the stream goes on.
            controller.enqueue({
              line,
              error: { line, code: "INVALID_UTF8", message: `Cannot read line ${line}: it is not valid UTF-8` },
            });
          }
        }
      }
      pending = [];
      pendingBytes = 0;
      isOversized = false;
    };

    super({
      transform(chunk, controller) {
        let start = 0;
        for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
          emit(controller, chunk.subarray(start, nl));
          start = nl + 1;
        }
        if (start < chunk.length) {
          const rest = chunk.subarray(start);
          if (isOversized || pendingBytes + rest.length > lineBytesMax + 1) {
            isOversized = true;
            pending = [];
            pendingBytes = 0;
          } else {
            pending.push(rest.slice());
            pendingBytes += rest.length;
          }
        }
      },
      flush(controller) {
        if (pendingBytes > 0 || isOversized) emit(controller, new Uint8Array(0));
      },
    });
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function isBlank(bytes: Uint8Array, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const b = bytes[i];
    if (b !== 32 && b !== 9 && b !== CARRIAGE_RETURN) return false;
  }
  return true;
}
