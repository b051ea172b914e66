/**
 * One reading of a Kubernetes Event, whichever API shape it came in.
 *
 * core/v1 Events name the object `involvedObject` and the text `message`; events.k8s.io/v1 Events name them
 * `regarding` and `note` and prefix the old timestamps with `deprecated`. Both reach us (a relay may watch either),
 * so everything downstream reads this view instead of the raw object.
 */
import { isPositiveNumber, type RawJsonNumber } from "./exact_json.ts";

/** The object an event concerns. Fields a source left out are absent. */
export interface ObjectRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export interface EventView {
  uid: string;
  resourceVersion: string;
  name?: string;
  namespace?: string;
  creationTimestamp?: string;
  involvedObject: ObjectRef;
  reason?: string;
  message?: string;
  type?: string;
  action?: string;
  /** A number above zero, kept as its text when the line was parsed with parseExactJson and a double would change it. */
  count?: number | RawJsonNumber;
  series?: Record<string, unknown>;
  eventTime?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
  reportingComponent?: string;
  reportingInstance?: string;
  source?: Record<string, unknown>;
  related?: ObjectRef;
}

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : undefined;
}

/** A non-empty string, else undefined: Kubernetes writes "" and null for "not set". */
function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

const REF_KEYS = ["apiVersion", "kind", "name", "namespace", "uid", "resourceVersion", "fieldPath"] as const;

function toObjectRef(value: unknown): ObjectRef {
  const ref: ObjectRef = {};
  const o = asObject(value);
  if (o === undefined) return ref;
  for (const key of REF_KEYS) {
    const v = o[key];
    if (typeof v === "string" && v !== "") ref[key] = v;
  }
  return ref;
}

/** True when the object has at least one own enumerable key (without building the key list). */
function hasKeys(value: Json): boolean {
  for (const _ in value) return true;
  return false;
}

/**
 * Reads an Event object of either shape. Returns undefined when it lacks the identity every row needs
 * (`metadata.uid` and `metadata.resourceVersion` as non-empty strings); the caller reports which. Fields the
 * source left out, empty or null are absent from the view (never present as undefined).
 */
export function toEventView(event: Json): EventView | undefined {
  const metadata = asObject(event.metadata);
  if (metadata === undefined) return undefined;
  const uid = text(metadata.uid);
  const resourceVersion = text(metadata.resourceVersion);
  if (uid === undefined || resourceVersion === undefined) return undefined;
  // Assigned in one fixed order, so every view (and the minified event built from it) shares one object shape.
  const view: EventView = {
    uid,
    resourceVersion,
    involvedObject: toObjectRef(event.involvedObject ?? event.regarding),
  };
  let v: string | undefined;
  if ((v = text(metadata.name)) !== undefined) view.name = v;
  if ((v = text(metadata.namespace)) !== undefined) view.namespace = v;
  if ((v = text(metadata.creationTimestamp)) !== undefined) view.creationTimestamp = v;
  if ((v = text(event.reason)) !== undefined) view.reason = v;
  if ((v = text(event.message) ?? text(event.note)) !== undefined) view.message = v;
  if ((v = text(event.type)) !== undefined) view.type = v;
  if ((v = text(event.action)) !== undefined) view.action = v;
  const count = event.count ?? event.deprecatedCount;
  if (isPositiveNumber(count)) view.count = count;
  const series = asObject(event.series);
  if (series !== undefined && hasKeys(series)) view.series = series;
  if ((v = text(event.eventTime)) !== undefined) view.eventTime = v;
  if ((v = text(event.firstTimestamp) ?? text(event.deprecatedFirstTimestamp)) !== undefined) view.firstTimestamp = v;
  if ((v = text(event.lastTimestamp) ?? text(event.deprecatedLastTimestamp)) !== undefined) view.lastTimestamp = v;
  if ((v = text(event.reportingComponent) ?? text(event.reportingController)) !== undefined) {
    view.reportingComponent = v;
  }
  if ((v = text(event.reportingInstance)) !== undefined) view.reportingInstance = v;
  const source = asObject(event.source) ?? asObject(event.deprecatedSource);
  if (source !== undefined && hasKeys(source)) view.source = source;
  const related = asObject(event.related);
  if (related !== undefined) view.related = toObjectRef(related);
  return view;
}

/** The names of the timestamps that may date an event version, in the order of preference: the first one present dates the version. */
export const EVENT_TIME_FIELDS = ["eventTime", "lastTimestamp", "firstTimestamp", "creationTimestamp"] as const;

/**
 * The instant an event version happened, as parseTimestamp writes it: eventTime, else lastTimestamp, else
 * firstTimestamp, else metadata.creationTimestamp. Never the time of receipt, so a retried version always lands in the
 * same partition. Returns undefined when none is set; throws RangeError naming the field when the chosen one does not
 * parse.
 */
export function toEventInstant(view: EventView): string | undefined {
  for (const field of EVENT_TIME_FIELDS) {
    const value = view[field];
    if (value === undefined) continue;
    const instant = parseTimestamp(value);
    if (instant === undefined) throw new RangeError(`Cannot read ${field}: "${value.slice(0, 64)}" is not RFC 3339`);
    return instant;
  }
  return undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * First and last whole second PostgreSQL's timestamptz and our partition names can hold with a four-digit year.
 * 400 Gregorian years are exactly 146,097 days; Date.UTC reads years 0-99 as 1900-1999, so those shift by 400.
 */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;
const INSTANT_MS_MIN = Date.UTC(401, 0, 1) - FOUR_CENTURIES_MS;
const INSTANT_MS_MAX = Date.UTC(9999, 11, 31, 23, 59, 59);

/** Digits of the fraction kept: PostgreSQL's timestamptz holds microseconds. */
const FRACTION_DIGITS = 6;
const ZERO_FRACTION = "000000";

function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses an RFC 3339 timestamp as Kubernetes writes them (`Z` or a `±hh:mm` offset, no fraction or 1 to 9 fraction
 * digits) into its instant in UTC with exactly six fraction digits: `2020-04-24T15:38:26.2525019+02:00` becomes
 * `2020-04-24T13:38:26.252501Z`. Digits past the microsecond are cut off, never rounded, so the result never moves
 * to a later instant (or the next day's partition) than the one sent; PostgreSQL, given the result, stores it
 * exactly. The first ten characters of the result are its UTC day.
 *
 * Returns undefined for anything else, including days a month does not have (`2026-02-30`, which Date would roll
 * over), hour 24, leap seconds, and instants outside years 0001-9999 once the offset is applied (PostgreSQL refuses
 * year 0 and partition names have four-digit years).
 */
export function parseTimestamp(value: string): string | undefined {
  if (!RFC3339.test(value)) return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const isUtc = value.charCodeAt(value.length - 1) === 90;
  const offsetAt = isUtc ? value.length - 1 : value.length - 6;
  const fraction = offsetAt === 19 ? ZERO_FRACTION : toFraction(value.slice(20, offsetAt));
  if (isUtc) return year === 0 ? undefined : `${value.slice(0, 19)}.${fraction}Z`;
  const offsetHours = digitsAt(value, offsetAt + 1, 2);
  const offsetMinutes = digitsAt(value, offsetAt + 4, 2);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000 * (value.charCodeAt(offsetAt) === 45 ? -1 : 1);
  // The offset is whole minutes, so only the whole seconds move; the fraction is kept as it is.
  const instantMs = Date.UTC(year + 400, month - 1, day, hour, minute, second) - FOUR_CENTURIES_MS - offsetMs;
  if (instantMs < INSTANT_MS_MIN || instantMs > INSTANT_MS_MAX) return undefined;
  return `${new Date(instantMs).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** 1 to 9 fraction digits as exactly six: padded with zeros, or cut off past the microsecond. */
function toFraction(digits: string): string {
  if (digits.length === FRACTION_DIGITS) return digits;
  return digits.length > FRACTION_DIGITS
    ? digits.slice(0, FRACTION_DIGITS)
    : digits + ZERO_FRACTION.slice(digits.length);
}
