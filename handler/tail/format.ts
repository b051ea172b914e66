/**
 * The one line `deno task tail` prints per event: time, cluster, namespace, kind/name, type, reason, message.
 */
import type { TailRow } from "./row.ts";

export interface TailFormatOptions {
  /** Colour Warning events yellow with ANSI escapes (for a terminal). */
  isColor: boolean;
}

const YELLOW = "\x1b[33m";
const RESET = "\x1b[0m";
// C0 and C1 control characters (ANSI escapes, carriage returns): an event message must not drive the terminal.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;

/** Makes one field safe and single-line: control characters become spaces, runs of spaces collapse, "-" when empty. */
export function toDisplayText(value: string | null): string {
  if (value === null) return "-";
  const text = value.replace(CONTROL, " ").replace(/ {2,}/g, " ").trim();
  return text === "" ? "-" : text;
}

/** `2026-11-25T17:31:02Z`: the event time in UTC to the second. */
export function toDisplayTime(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Formats one row: `<time> <cluster> <namespace> <kind>/<name> <type> <reason> <message>`, fields separated by
 * single spaces, a missing field shown as `-`. Never contains a line break or a control character (except the
 * colour escapes it adds itself when `isColor`).
 */
export function formatTailLine(row: TailRow, options: TailFormatOptions): string {
  const object = `${toDisplayText(row.resourceKind)}/${toDisplayText(row.resourceName)}`;
  const type = toDisplayText(row.eventType);
  const line = [
    toDisplayTime(row.createdAt),
    toDisplayText(row.clusterName),
    toDisplayText(row.namespace),
    object,
    type,
    toDisplayText(row.reason),
    toDisplayText(row.message),
  ].join(" ");
  return options.isColor && row.eventType === "Warning" ? `${YELLOW}${line}${RESET}` : line;
}
