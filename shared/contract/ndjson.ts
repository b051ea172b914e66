/**
 * NDJSON framing: encoding records into lines, and splitting a byte stream back into numbered lines with a cap
 * on each line's size. Pure stream transforms; no I/O.
 */
import type { LineError } from "./line_error.ts";
import { toUtf8Length, UTF8_BYTES_PER_UNIT_MAX } from "./utf8.ts";

/** Encodes records as NDJSON: one compact JSON object per line, each line ending in `\n`. */
export function encodeNdjson(records: readonly unknown[]): string {
  let out = "";
  for (const record of records) out += JSON.stringify(record) + "\n";
  return out;
}

/** One line of input: its text, or why it could not be read. `line` counts from 1, blank lines included. */
export type NdjsonLine = { line: number; text: string } | { line: number; error: LineError };

const NEWLINE = 10;
const REPLACEMENT_CHARACTER = "\uFFFD";
const CARRIAGE_RETURN = 13;

/**
 * Splits bytes into NDJSON lines, chunk by chunk, without a stream around it (for a reader that wants the lines of a
 * chunk at once). Accepts `\n` and `\r\n` line ends and a last line without one; skips blank lines (they still count
 * for numbering). A line longer than `lineBytesMax` (without its line end) comes out as a LINE_TOO_LONG error and its
 * bytes are dropped as they arrive, so memory stays bounded; bytes that are not UTF-8 give INVALID_UTF8 for that line
 * only.
 *
 * The complete lines of a chunk are decoded with one call of a lenient TextDecoder, and each line's text is a slice of
 * that string (no copy). The lenient decoder writes U+FFFD for bytes that are not UTF-8, and it is about ten times
 * faster than the fatal one that finds them; so only a chunk whose text holds U+FFFD (sent as such, or in place of
 * malformed bytes) is decoded again line by line with the fatal decoder, which tells which lines are malformed.
 */
export class NdjsonLineSplitter {
  readonly #lineBytesMax: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  readonly #lenientDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
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
    let start = 0;
    if (this.#pendingBytes > 0 || this.#isOversized) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        this.#keep(chunk);
        return out;
      }
      this.#emit(out, chunk.subarray(0, nl));
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= start) {
      this.#emitLines(out, chunk.subarray(start, last));
      start = last + 1;
    }
    if (start < chunk.length) this.#keep(chunk.subarray(start));
    return out;
  }

  /** The last line when the input did not end with a line end; call once, at the end of the input. */
  flush(): NdjsonLine[] {
    const out: NdjsonLine[] = [];
    if (this.#pendingBytes > 0 || this.#isOversized) this.#emit(out, new Uint8Array(0));
    return out;
  }

  /** Keeps the start of a line that has not ended yet, or drops it once the line is over the limit. */
  #keep(rest: Uint8Array): void {
    if (this.#isOversized || this.#pendingBytes + rest.length > this.#lineBytesMax + 1) {
      this.#isOversized = true;
      this.#pending = [];
      this.#pendingBytes = 0;
    } else {
      this.#pending.push(rest.slice());
      this.#pendingBytes += rest.length;
    }
  }

  /**
   * Emits the complete lines of `bytes`: lines separated by `\n`, the last one's line end not included. Works on the
   * decoded text alone: a line's UTF-8 length is counted only when it may be over the limit (a UTF-16 code unit takes
   * at most three bytes). Blank lines are counted in a tight loop, with no call or allocation per line.
   */
  #emitLines(out: NdjsonLine[], lines: Uint8Array): void {
    const bytes = this.#skipBlankLines(lines);
    if (bytes === undefined) return;
    const text = this.#lenientDecoder.decode(bytes);
    if (text.includes(REPLACEMENT_CHARACTER)) {
      this.#emitEach(out, bytes);
      return;
    }
    const end = text.length;
    const lineBytesMax = this.#lineBytesMax;
    let line = this.#line;
    let at = 0;
    for (;;) {
      let i = at;
      for (; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c === NEWLINE) {
          line++;
          at = i + 1;
        } else if (c !== 32 && c !== 9 && c !== CARRIAGE_RETURN) break;
      }
      line++;
      if (i === end) break;
      const nl = text.indexOf("\n", i);
      let lineEnd = nl === -1 ? end : nl;
      if (text.charCodeAt(lineEnd - 1) === CARRIAGE_RETURN) lineEnd--;
      const units = lineEnd - at;
      if (units * UTF8_BYTES_PER_UNIT_MAX > lineBytesMax && toUtf8Length(text.slice(at, lineEnd)) > lineBytesMax) {
        out.push({ line, error: toLineTooLong(line, lineBytesMax) });
      } else {
        out.push({ line, text: text.slice(at, lineEnd) });
      }
      if (nl === -1) break;
      at = nl + 1;
    }
    this.#line = line;
  }

  /**
   * Counts the blank lines `lines` (as #emitLines takes them) starts with, on the bytes: a run of them costs no
   * decoding. Returns the lines from the first that is not blank, or undefined when all are blank.
   */
  #skipBlankLines(lines: Uint8Array): Uint8Array | undefined {
    const end = lines.length;
    let line = this.#line;
    let at = 0;
    for (let i = 0; i < end; i++) {
      const b = lines[i];
      if (b === NEWLINE) {
        line++;
        at = i + 1;
      } else if (b !== 32 && b !== 9 && b !== CARRIAGE_RETURN) {
        this.#line = line;
        return lines.subarray(at);
      }
    }
    this.#line = line + 1;
    return undefined;
  }

  /** Emits the complete lines of `bytes` (as #emitLines), each decoded on its own by the fatal decoder. */
  #emitEach(out: NdjsonLine[], bytes: Uint8Array): void {
    let at = 0;
    for (;;) {
      const nl = bytes.indexOf(NEWLINE, at);
      this.#emit(out, bytes.subarray(at, nl === -1 ? bytes.length : nl));
      if (nl === -1) return;
      at = nl + 1;
    }
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
    out.push({ line, error: toLineTooLong(line, lineBytesMax) });
  }
}

function toLineTooLong(line: number, lineBytesMax: number): LineError {
  return { line, code: "LINE_TOO_LONG", message: `Cannot read line ${line}: longer than ${lineBytesMax} bytes` };
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
