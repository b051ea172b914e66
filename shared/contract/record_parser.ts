/**
 * Validation of one NDJSON line into an ingest record, with a stable code for every way it can be wrong.
 */
import { type EventRecord, type GapRecord, RECORD_VERSION } from "./records.ts";
import type { LineError, LineErrorCode } from "./line_error.ts";
import { EVENT_TIME_FIELDS, type EventView, parseTimestamp, toEventView } from "./event_view.ts";
import {
  findUnstorableNumber,
  hasNumber,
  mayHoldInexactNumber,
  mayHoldInexactNumberAfterKey,
  NUMERIC_FRACTION_DIGITS_MAX,
  NUMERIC_INTEGER_DIGITS_MAX,
  parseExactJson,
} from "./exact_json.ts";
import { isClusterName } from "./cluster_name.ts";

// Defined in its own module (the relay checks names without this parser); exported here for the handler.
export { isClusterName };

/** A line that passed validation. `view` is set for event records. */
export type ParsedLine =
  | { ok: true; record: EventRecord; view: EventView }
  | { ok: true; record: GapRecord; view?: undefined }
  | { ok: false; error: LineError };

export interface ParseLineOptions {
  /** Deepest nesting of arrays and objects a line may have. */
  jsonDepthMax: number;
}

function fail(line: number, code: LineErrorCode, message: string): ParsedLine {
  return { ok: false, error: { line, code, message } };
}

/**
 * True when a parsed JSON value nests deeper than `max` (objects and arrays count one level each). A bounded
 * recursive walk that allocates nothing, so it costs little on the common shallow event and stops early on a
 * hostile one.
 */
function depthExceeds(value: object, max: number): boolean {
  if (max === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === "object" && child !== null && depthExceeds(child, max - 1)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    if (typeof child === "object" && child !== null && depthExceeds(child, max - 1)) return true;
  }
  return false;
}

/** True when some string or key of the value satisfies `test`. The value is known to be shallow by now. */
function someString(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (someString(value[i], test)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (test(key) || someString(record[key], test)) return true;
  return false;
}

const hasNul = (text: string) => text.includes("\u0000");
const isIllFormed = (text: string) => !text.isWellFormed();

/** A lone surrogate can only arrive escaped (as bytes it is invalid UTF-8), so only `\ud`/`\uD` needs a walk. */
function mayHoldLoneSurrogate(text: string): boolean {
  return text.includes("\\ud") || text.includes("\\uD");
}

/** The checks of characters that a line can only carry as `\u` escapes (see parseRecordLine). */
function checkEscapedCharacters(value: object, line: number, text: string): ParsedLine | undefined {
  // JSON can only carry NUL escaped, so a line without the escape needs no walk.
  if (text.includes("\\u0000") && someString(value, hasNul)) {
    return fail(line, "NUL_IN_STRING", `Cannot store line ${line}: a string contains a NUL character`);
  }
  // PostgreSQL's jsonb refuses an unpaired surrogate and text would silently get U+FFFD instead.
  if (mayHoldLoneSurrogate(text) && someString(value, isIllFormed)) {
    return fail(
      line,
      "INVALID_UNICODE",
      `Cannot store line ${line}: a string contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)`,
    );
  }
  return undefined;
}

/** Longest uid, resourceVersion and gap field: all are parts of unique index keys, which PostgreSQL bounds. */
export const KEY_FIELD_LENGTH_MAX = 253;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * Parses and validates one line (already decoded, without its line end). `line` counts from 1 and is echoed in
 * every error. Never throws: each failure comes back as a LineError with a stable code.
 */
export function parseRecordLine(text: string, line: number, options: ParseLineOptions): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(line, "INVALID_JSON", `Cannot parse line ${line}: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(line, "NOT_AN_OBJECT", `Cannot read line ${line}: it is ${describe(value)}, not an object`);
  }
  if (depthExceeds(value, options.jsonDepthMax)) {
    return fail(line, "TOO_DEEP", `Cannot read line ${line}: nesting deeper than ${options.jsonDepthMax}`);
  }
  // NUL and lone surrogates can only arrive as `\u` escapes, so a line without one needs neither check.
  if (text.includes("\\u")) {
    const failure = checkEscapedCharacters(value, line, text);
    if (failure) return failure;
  }
  const record = value as Record<string, unknown>;
  if (record.v === undefined) return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "v" is missing`);
  if (record.v !== RECORD_VERSION) {
    return fail(
      line,
      "UNSUPPORTED_VERSION",
      `Cannot read line ${line}: record version ${String(record.v).slice(0, 32)} is not ${RECORD_VERSION}`,
    );
  }
  if (!isClusterName(record.cluster)) {
    return record.cluster === undefined
      ? fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "cluster" is missing`)
      : fail(line, "INVALID_FIELD", `Cannot read line ${line}: field "cluster" is not a cluster name`);
  }
  const observed = checkTimestampField(record, "observedAt", line);
  if (observed) return observed;
  if (record.kind === "event") return parseEvent(record, line, text);
  if (record.kind === "gap") return parseGap(record, line);
  if (record.kind === undefined) {
    return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "kind" is missing`);
  }
  return fail(
    line,
    "UNKNOWN_KIND",
    `Cannot read line ${line}: kind ${JSON.stringify(record.kind).slice(0, 40)} is not "event" or "gap"`,
  );
}

function checkTimestampField(record: Record<string, unknown>, field: string, line: number): ParsedLine | undefined {
  const value = record[field];
  if (value === undefined) return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "${field}" is missing`);
  if (typeof value !== "string" || parseTimestamp(value) === undefined) {
    return fail(line, "INVALID_TIMESTAMP", `Cannot read line ${line}: field "${field}" is not an RFC 3339 timestamp`);
  }
  return undefined;
}

function parseEvent(record: Record<string, unknown>, line: number, text: string): ParsedLine {
  const event = record.event;
  if (event === undefined) return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "event" is missing`);
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return fail(line, "INVALID_FIELD", `Cannot read line ${line}: field "event" is ${describe(event)}, not an object`);
  }
  const identity = checkEventIdentity(event as Record<string, unknown>, line);
  if (identity) return identity;
  const view = toEventView(event as Record<string, unknown>);
  if (view === undefined) {
    return fail(
      line,
      "MISSING_FIELD",
      `Cannot read line ${line}: event.metadata.uid and event.metadata.resourceVersion must be non-empty strings`,
    );
  }
  if (view.uid.length > KEY_FIELD_LENGTH_MAX || view.resourceVersion.length > KEY_FIELD_LENGTH_MAX) {
    return fail(
      line,
      "INVALID_FIELD",
      `Cannot read line ${line}: event.metadata.uid and event.metadata.resourceVersion must be at most ` +
        `${KEY_FIELD_LENGTH_MAX} characters`,
    );
  }
  const enrichment = record.enrichment;
  if (
    enrichment !== undefined && (typeof enrichment !== "object" || enrichment === null || Array.isArray(enrichment))
  ) {
    return fail(
      line,
      "INVALID_FIELD",
      `Cannot read line ${line}: field "enrichment" is ${describe(enrichment)}, not an object`,
    );
  }
  const labels = (enrichment as Record<string, unknown> | undefined)?.labels;
  if (labels !== undefined && !isStringMap(labels)) {
    return fail(
      line,
      "INVALID_FIELD",
      `Cannot read line ${line}: field "enrichment.labels" must map strings to strings`,
    );
  }
  const replacedVersions = record.replacedVersions;
  if (replacedVersions !== undefined && !(Number.isSafeInteger(replacedVersions) && Number(replacedVersions) >= 1)) {
    return fail(
      line,
      "INVALID_FIELD",
      `Cannot read line ${line}: field "replacedVersions" must be a positive integer when present`,
    );
  }
  const raw = event as Record<string, unknown>;
  const metadata = raw.metadata as Record<string, unknown>;
  for (const field of RAW_TIME_FIELDS) {
    const value = field === "creationTimestamp" ? metadata.creationTimestamp : raw[field];
    if (value !== undefined && value !== null && typeof value !== "string") {
      return fail(
        line,
        "INVALID_TIMESTAMP",
        `Cannot read line ${line}: event ${field} is ${describe(value)}, not a timestamp`,
      );
    }
  }
  let dated = false;
  for (const field of EVENT_TIME_FIELDS) {
    const value = view[field];
    if (value === undefined) continue;
    if (parseTimestamp(value) === undefined) {
      return fail(line, "INVALID_TIMESTAMP", `Cannot read line ${line}: event ${field} is not an RFC 3339 timestamp`);
    }
    dated = true;
  }
  if (!dated) {
    return fail(
      line,
      "MISSING_TIMESTAMP",
      `Cannot date line ${line}: the event has no eventTime, lastTimestamp, firstTimestamp or creationTimestamp`,
    );
  }
  if (mayStoreInexactNumber(view, text)) return readExactNumbers(record as unknown as EventRecord, line, text);
  return { ok: true, record: record as unknown as EventRecord, view };
}

/**
 * True when the view built from a parse with numbers kept as sent (readExactNumbers) may differ from `view`. The
 * view holds numbers only in `count` (from the key `count` or `deprecatedCount`), `series` and `source`; everything
 * else in it is strings, which both parses read alike. So when series and source hold no number, only the tokens
 * after the count keys can make a difference, and those are checked by the test mayHoldInexactNumber applies to all
 * (a count key is looked for even when the view has no count: `1e-400` reads as 0, which is no count, but is one
 * when read exactly). A line with `\u` escapes may spell a count key with them, so it gets the whole-line test.
 * The whole-line test reads every character behind every quote of a 1.5 kB line; this reads the few after `ount"`.
 */
function mayStoreInexactNumber(view: EventView, text: string): boolean {
  if (hasNumber(view.series) || hasNumber(view.source) || text.includes("\\u")) return mayHoldInexactNumber(text);
  return mayHoldInexactNumberAfterKey(text, COUNT_KEY_SUFFIX);
}

/** The end of both count keys of an Event, `"count"` and `"deprecatedCount"`, closing quote included. */
const COUNT_KEY_SUFFIX = 'ount"';

/**
 * The view of a validated event line read again with its numbers as sent (parseExactJson), so that the stored event
 * holds them exactly; a number PostgreSQL's jsonb cannot hold is refused with NUMBER_OUT_OF_RANGE. Validation stays
 * on the plain parse: only what is stored changes.
 */
function readExactNumbers(record: EventRecord, line: number, text: string): ParsedLine {
  const exact = parseExactJson(text) as { event: Record<string, unknown> };
  // The same text passed validation as a plain parse, and both parses have the same structure and strings.
  const view = toEventView(exact.event)!;
  if (findUnstorableNumber(view) !== undefined) {
    return fail(
      line,
      "NUMBER_OUT_OF_RANGE",
      `Cannot store line ${line}: the event holds a number PostgreSQL's numeric cannot hold ` +
        `(more than ${NUMERIC_INTEGER_DIGITS_MAX} digits before the decimal point or ` +
        `${NUMERIC_FRACTION_DIGITS_MAX} after it)`,
    );
  }
  return { ok: true, record, view };
}

/**
 * The event's identity fields: `metadata` must be an object and `metadata.uid` and `metadata.resourceVersion`
 * strings. Absent, null or empty (how Kubernetes writes "not set") is MISSING_FIELD; any other type INVALID_FIELD.
 */
function checkEventIdentity(event: Record<string, unknown>, line: number): ParsedLine | undefined {
  const metadata = event.metadata;
  if (metadata === undefined || metadata === null) {
    return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "event.metadata" is missing`);
  }
  if (typeof metadata !== "object" || Array.isArray(metadata)) {
    return fail(
      line,
      "INVALID_FIELD",
      `Cannot read line ${line}: field "event.metadata" is ${describe(metadata)}, not an object`,
    );
  }
  for (const field of ["uid", "resourceVersion"] as const) {
    const value = (metadata as Record<string, unknown>)[field];
    if (value === undefined || value === null || value === "") {
      return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "event.metadata.${field}" is missing`);
    }
    if (typeof value !== "string") {
      return fail(
        line,
        "INVALID_FIELD",
        `Cannot read line ${line}: field "event.metadata.${field}" is ${describe(value)}, not a string`,
      );
    }
  }
  return undefined;
}

/** Every timestamp field of either Event shape; a value that is not a string must not silently count as unset. */
const RAW_TIME_FIELDS = [
  "eventTime",
  "lastTimestamp",
  "firstTimestamp",
  "deprecatedLastTimestamp",
  "deprecatedFirstTimestamp",
  "creationTimestamp",
] as const;

function isStringMap(value: unknown): value is Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const map = value as Record<string, unknown>;
  for (const key in map) if (typeof map[key] !== "string") return false;
  return true;
}

function parseGap(record: Record<string, unknown>, line: number): ParsedLine {
  if (record.from === undefined) {
    return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "from" is missing`);
  }
  if (record.from !== null && (typeof record.from !== "string" || record.from === "")) {
    return fail(line, "INVALID_FIELD", `Cannot read line ${line}: field "from" must be a resourceVersion or null`);
  }
  for (const field of ["to", "reason"]) {
    const value = record[field];
    if (value === undefined) {
      return fail(line, "MISSING_FIELD", `Cannot read line ${line}: field "${field}" is missing`);
    }
    if (typeof value !== "string" || value === "") {
      return fail(line, "INVALID_FIELD", `Cannot read line ${line}: field "${field}" must be a non-empty string`);
    }
  }
  for (const field of ["from", "to", "reason"]) {
    const value = record[field];
    if (typeof value === "string" && value.length > KEY_FIELD_LENGTH_MAX) {
      return fail(
        line,
        "INVALID_FIELD",
        `Cannot read line ${line}: field "${field}" is longer than ${KEY_FIELD_LENGTH_MAX} characters`,
      );
    }
  }
  return { ok: true, record: record as unknown as GapRecord };
}
