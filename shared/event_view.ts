/**
 * One reading of a Kubernetes Event, whichever API shape it came in.
 *
 * core/v1 Events name the object `involvedObject` and the text `message`; events.k8s.io/v1 Events name them
 * `regarding` and `note` and prefix the old timestamps with `deprecated`. Both reach us (a relay may watch either),
 * so everything downstream reads this view instead of the raw object.
 */

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
  count?: number;
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

function toObjectRef(value: unknown): ObjectRef {
  const o = asObject(value) ?? {};
  const ref: ObjectRef = {};
  for (const key of ["apiVersion", "kind", "name", "namespace", "uid", "resourceVersion", "fieldPath"] as const) {
    const v = text(o[key]);
    if (v !== undefined) ref[key] = v;
  }
  return ref;
}

/**
 * Reads an Event object of either shape. Returns undefined when it lacks the identity every row needs
 * (`metadata.uid` and `metadata.resourceVersion` as non-empty strings); the caller reports which.
 */
export function toEventView(event: Json): EventView | undefined {
  const metadata = asObject(event.metadata) ?? {};
  const uid = text(metadata.uid);
  const resourceVersion = text(metadata.resourceVersion);
  if (uid === undefined || resourceVersion === undefined) return undefined;
  const count = event.count ?? event.deprecatedCount;
  const source = asObject(event.source) ?? asObject(event.deprecatedSource);
  const series = asObject(event.series);
  const related = asObject(event.related);
  const view: EventView = {
    uid,
    resourceVersion,
    name: text(metadata.name),
    namespace: text(metadata.namespace),
    creationTimestamp: text(metadata.creationTimestamp),
    involvedObject: toObjectRef(event.involvedObject ?? event.regarding),
    reason: text(event.reason),
    message: text(event.message) ?? text(event.note),
    type: text(event.type),
    action: text(event.action),
    count: typeof count === "number" && count > 0 ? count : undefined,
    series: series && Object.keys(series).length > 0 ? series : undefined,
    eventTime: text(event.eventTime),
    firstTimestamp: text(event.firstTimestamp) ?? text(event.deprecatedFirstTimestamp),
    lastTimestamp: text(event.lastTimestamp) ?? text(event.deprecatedLastTimestamp),
    reportingComponent: text(event.reportingComponent) ?? text(event.reportingController),
    reportingInstance: text(event.reportingInstance),
    source: source && Object.keys(source).length > 0 ? source : undefined,
    related: related ? toObjectRef(related) : undefined,
  };
  for (const key of Object.keys(view) as (keyof EventView)[]) {
    if (view[key] === undefined) delete view[key];
  }
  return view;
}

/** The names of the timestamps that may date an event version, in the order rule 3.2 prefers them. */
export const EVENT_TIME_FIELDS = ["eventTime", "lastTimestamp", "firstTimestamp", "creationTimestamp"] as const;

/**
 * The instant an event version happened: eventTime, else lastTimestamp, else firstTimestamp, else
 * metadata.creationTimestamp. Never the time of receipt, so a retried version always lands in the same partition.
 * Returns undefined when none is set; throws RangeError naming the field when the chosen one does not parse.
 */
export function toEventInstant(view: EventView): Date | undefined {
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

/** Parses an RFC 3339 timestamp as Kubernetes writes them (second or sub-second precision). */
export function parseTimestamp(value: string): Date | undefined {
  if (!RFC3339.test(value)) return undefined;
  const instant = new Date(value);
  return Number.isNaN(instant.getTime()) ? undefined : instant;
}
