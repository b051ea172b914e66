/**
 * Encoding of event rows for PostgreSQL `COPY ... FROM STDIN` in text format. Every value is escaped here, so no
 * request content ever reaches SQL text.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";

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
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * One value in COPY text format: `\N` for null, otherwise the text with backslash, tab, newline and carriage return
 * escaped. Throws RangeError for a NUL character, which no PostgreSQL text value can hold.
 */
export function toCopyValue(value: string | null): string {
  if (value === null) return "\\N";
  if (!NEEDS_ESCAPE.test(value)) return value;
  if (value.includes("\u0000")) throw new RangeError("Cannot encode a value for COPY: it contains a NUL character");
  return value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] ?? c);
}

/** One row as a COPY text line, columns in `COPY_COLUMNS` order, ending in `\n`. Throws RangeError as toCopyValue. */
export function toCopyLine(row: EventRow): string {
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

/**
 * The rows as COPY text, cut into chunks of about `chunkBytesMin` UTF-16 code units or more (whole lines only), so
 * a writer sends few large writes instead of one per row.
 */
export function* toCopyChunks(rows: readonly EventRow[], options: { chunkBytesMin: number }): Generator<string> {
  let chunk = "";
  for (const row of rows) {
    chunk += toCopyLine(row);
    if (chunk.length >= options.chunkBytesMin) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk !== "") yield chunk;
}
