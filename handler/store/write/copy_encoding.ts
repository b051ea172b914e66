/**
 * Encoding of event rows for PostgreSQL `COPY ... FROM STDIN` in text format. Every value is escaped here, so no
 * request content ever reaches SQL text.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { UTF8_BYTES_PER_UNIT_MAX } from "../../../shared/contract/utf8.ts";

/** The `k8s_events` columns a COPY writes, in the order `toCopyLine` emits them. `event_id` is left to its default. */
export const COPY_COLUMNS = [
  "created_at",
  "cluster_name",
  "uid",
  "global_uid",
  "namespace",
  "resource_kind",
  "resource_name",
  "involved_object_uid",
  "event_type",
  "reason",
  "message",
  "composition_id",
  "raw",
  "resource_version",
] as const;

// NUL is matched so that toCopyValue can refuse it; PostgreSQL text cannot hold it.
// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /[\\\t\n\r\u0000]/;
const CONTROL = /[\t\n\r]/;
const CONTROL_ALL = /[\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * One value in COPY text format: `\N` for null, otherwise the text with backslash, tab, newline and carriage return
 * escaped. Throws RangeError for a NUL character, which no PostgreSQL text value can hold.
 */
export function toCopyValue(value: string | null): string {
  if (value === null) return "\\N";
  if (!NEEDS_ESCAPE.test(value)) return value;
  if (value.includes("\u0000")) throw new RangeError("Cannot encode a value for COPY: it contains a NUL character");
  // Backslashes first, so that the backslashes of the escapes below are not doubled. replaceAll of a plain string
  // is the fast case that matters: a minified event's JSON has a backslash before every quote inside a string, and
  // never a raw tab, newline or carriage return.
  const escaped = value.includes("\\") ? value.replaceAll("\\", "\\\\") : value;
  return CONTROL.test(escaped) ? escaped.replace(CONTROL_ALL, (c) => ESCAPES[c] ?? c) : escaped;
}

/** One row as a COPY text line, columns in `COPY_COLUMNS` order, ending in `\n`. Throws RangeError as toCopyValue. */
export function toCopyLine(row: EventRow): string {
  return isPlainRow(row) ? toPlainCopyLine(row) : toEscapedCopyLine(row);
}

// deno-lint-ignore no-control-regex
const CONTROL_OR_NUL = /[\t\n\r\u0000]/;

/**
 * True when no value but `raw` needs an escape and `raw` needs none but doubled backslashes: the common row, whose
 * `raw` is JSON text as JSON.stringify writes it (backslashes, never a raw control character). One test of the short
 * values joined and one of `raw`, where testing each value on its own costs about twice as much.
 */
function isPlainRow(row: EventRow): boolean {
  const short = row.createdAt + row.clusterName + row.uid + row.globalUid + (row.namespace ?? "") +
    (row.resourceKind ?? "") + (row.resourceName ?? "") + (row.involvedObjectUid ?? "") + (row.eventType ?? "") +
    (row.reason ?? "") + (row.message ?? "") + (row.compositionId ?? "") + row.resourceVersion;
  return !NEEDS_ESCAPE.test(short) && !CONTROL_OR_NUL.test(row.raw);
}

/** The COPY text of a null or a value without anything to escape. */
function orNull(value: string | null): string {
  return value === null ? "\\N" : value;
}

/** toEscapedCopyLine for a row isPlainRow accepts: the same text, each value as it is and `raw` with doubled backslashes. */
function toPlainCopyLine(row: EventRow): string {
  const raw = row.raw.includes("\\") ? row.raw.replaceAll("\\", "\\\\") : row.raw;
  return row.createdAt + "\t" +
    row.clusterName + "\t" +
    row.uid + "\t" +
    row.globalUid + "\t" +
    orNull(row.namespace) + "\t" +
    orNull(row.resourceKind) + "\t" +
    orNull(row.resourceName) + "\t" +
    orNull(row.involvedObjectUid) + "\t" +
    orNull(row.eventType) + "\t" +
    orNull(row.reason) + "\t" +
    orNull(row.message) + "\t" +
    orNull(row.compositionId) + "\t" +
    raw + "\t" +
    row.resourceVersion + "\n";
}

/** Any row as a COPY text line, each value through toCopyValue. */
function toEscapedCopyLine(row: EventRow): string {
  return toCopyValue(row.createdAt) + "\t" +
    toCopyValue(row.clusterName) + "\t" +
    toCopyValue(row.uid) + "\t" +
    toCopyValue(row.globalUid) + "\t" +
    toCopyValue(row.namespace) + "\t" +
    toCopyValue(row.resourceKind) + "\t" +
    toCopyValue(row.resourceName) + "\t" +
    toCopyValue(row.involvedObjectUid) + "\t" +
    toCopyValue(row.eventType) + "\t" +
    toCopyValue(row.reason) + "\t" +
    toCopyValue(row.message) + "\t" +
    toCopyValue(row.compositionId) + "\t" +
    toCopyValue(row.raw) + "\t" +
    toCopyValue(row.resourceVersion) + "\n";
}

const encoder = new TextEncoder();

/**
 * Lines are joined into runs of about this many UTF-16 code units before they are encoded: one encodeInto call per
 * run rather than per line (the call costs about as much as encoding a whole line), while a run is still small
 * enough to die young.
 */
const ENCODE_RUN_UNITS = 32 * 1024;

/**
 * The rows as COPY text in UTF-8, cut into chunks of `chunkBytesMin` bytes or more (whole lines only, the last chunk
 * excepted), so a writer sends few large writes instead of one per row. Lines are encoded into the chunk's buffer a
 * run at a time as they are made: a chunk is a buffer outside the JavaScript heap, not a string of thousands of
 * lines for the garbage collector to copy. Throws RangeError as toCopyValue (the chunks before that row were
 * yielded already).
 */
export function* toCopyChunks(rows: readonly EventRow[], options: { chunkBytesMin: number }): Generator<Uint8Array> {
  const { chunkBytesMin } = options;
  let buffer = new Uint8Array(0);
  let at = 0;
  let run = "";
  /** Replaces the buffer by one with room for `bytes` more (at least a chunk and a run), keeping what it holds. */
  const grow = (bytes: number) => {
    const grown = new Uint8Array(Math.max(chunkBytesMin + ENCODE_RUN_UNITS, at + bytes));
    if (at > 0) grown.set(buffer.subarray(0, at));
    buffer = grown;
  };
  /**
   * Encodes the run into the buffer. Room is made for one byte a code unit first (most text is ASCII), so a buffer
   * is not three times larger than its text; when the rest of the run does not fit, for three.
   */
  const encodeRun = () => {
    let rest = run;
    if (buffer.length - at < rest.length) grow(rest.length);
    for (;;) {
      const { read, written } = encoder.encodeInto(rest, buffer.subarray(at));
      at += written;
      if (read === rest.length) break;
      rest = rest.slice(read);
      grow(rest.length * UTF8_BYTES_PER_UNIT_MAX);
    }
    run = "";
  };
  for (const row of rows) {
    run += toCopyLine(row);
    // UTF-8 has at least as many bytes as UTF-16 code units, so a chunk may be full once the run is encoded.
    if (run.length < ENCODE_RUN_UNITS && at + run.length < chunkBytesMin) continue;
    encodeRun();
    if (at >= chunkBytesMin) {
      yield buffer.subarray(0, at);
      buffer = new Uint8Array(0);
      at = 0;
    }
  }
  if (run !== "") encodeRun();
  if (at > 0) yield buffer.subarray(0, at);
}
