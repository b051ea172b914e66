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
 * Splits bytes into NDJSON lines, chunk by chunk, without a stream around it (for a reader that wants the lines of a
 * chunk at once). Accepts `\n` and `\r\n` line ends and a last line without one; skips blank lines (they still count
 * for numbering). A line longer than `lineBytesMax` (without its line end) comes out as a LINE_TOO_LONG error and its
 * bytes are dropped as they arrive, so memory stays bounded; bytes that are not UTF-8 give INVALID_UTF8 for that line
 * only.
 */
export class NdjsonLineSplitter {
  readonly #lineBytesMax: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #isOversized = false;
  #line = 0;

  constructor(options: { lineBytesMax: number }) {
    this.#lineBytesMax = options.lineBytesMax;
  }

  /** The lines completed by `chunk`, in order; a line's start may have come with earlier chunks. */
  push(chunk: Uint8Array): NdjsonLine[] {
    const out: NdjsonLine[] = [];
    const length = chunk.length;
    let start = 0;
    while (start < length) {
      if (this.#pendingBytes === 0 && !this.#isOversized) {
        // Blank lines are counted in one tight byte loop: no subarray, no call, no allocation per line.
        let line = this.#line;
        for (let i = start; i < length; i++) {
          const b = chunk[i];
          if (b === NEWLINE) {
            line++;
            start = i + 1;
          } else if (b !== 32 && b !== 9 && b !== CARRIAGE_RETURN) break;
        }
        this.#line = line;
        if (start >= length) break;
      }
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      this.#emit(out, chunk.subarray(start, nl));
      start = nl + 1;
    }
    if (start < length) {
      const rest = chunk.subarray(start);
      if (this.#isOversized || this.#pendingBytes + rest.length > this.#lineBytesMax + 1) {
        this.#isOversized = true;
        this.#pending = [];
        this.#pendingBytes = 0;
      } else {
        this.#pending.push(rest.slice());
        this.#pendingBytes += rest.length;
      }
    }
    return out;
  }

  /** The last line when the input did not end with a line end; call once, at the end of the input. */
  flush(): NdjsonLine[] {
    const out: NdjsonLine[] = [];
    if (this.#pendingBytes > 0 || this.#isOversized) this.#emit(out, new Uint8Array(0));
    return out;
  }

  #emit(out: NdjsonLine[], tail: Uint8Array): void {
    const line = ++this.#line;
    const lineBytesMax = this.#lineBytesMax;
    const pending = this.#pending;
    const total = this.#pendingBytes + tail.length;
    const isOversized = this.#isOversized || total > lineBytesMax + 1;
    if (pending.length > 0) this.#pending = [];
    this.#pendingBytes = 0;
    this.#isOversized = false;
    if (!isOversized) {
      const bytes = pending.length === 0 ? tail : concat([...pending, tail], total);
      const end = bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN ? bytes.length - 1 : bytes.length;
      if (end <= lineBytesMax) {
        if (isBlank(bytes, end)) return;
        try {
          out.push({ line, text: this.#decoder.decode(bytes.subarray(0, end)) });
        } catch {
          // A fatal TextDecoder throws only on malformed UTF-8; the line is reported and the input goes on.
          out.push({
            line,
            error: { line, code: "INVALID_UTF8", message: `Cannot read line ${line}: it is not valid UTF-8` },
          });
        }
        return;
      }
    }
    out.push({
      line,
      error: { line, code: "LINE_TOO_LONG", message: `Cannot read line ${line}: longer than ${lineBytesMax} bytes` },
    });
  }
}

/** NdjsonLineSplitter as a stream transform: bytes in, one NdjsonLine out per line. */
export class NdjsonLineStream extends TransformStream<Uint8Array, NdjsonLine> {
  constructor(options: { lineBytesMax: number }) {
    const splitter = new NdjsonLineSplitter(options);
    super({
      transform(chunk, controller) {
        for (const item of splitter.push(chunk)) controller.enqueue(item);
      },
      flush(controller) {
        for (const item of splitter.flush()) controller.enqueue(item);
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
