/**
 * The minified event stored in `k8s_events.raw`: what a reader needs, in core/v1 field names whichever API shape
 * the event came in, with the relay's enrichment folded into the involved object.
 */
import type { EventView, ObjectRef } from "../shared/event_view.ts";
import type { EventRecord, OwnerRef } from "../shared/records.ts";

/** The involved object as stored: its reference plus what the relay learned about it. */
export interface MinifiedObject extends ObjectRef {
  /** Labels of the involved object, from enrichment. */
  labels?: Record<string, string>;
  /** Owner chain, direct owner first, from enrichment. */
  owners?: OwnerRef[];
  /** Composition id from enrichment, as sent (the row's `composition_id` holds it only when it is a UUID). */
  compositionId?: string;
  /** Stable code of the enrichment failure, so a reader knows why labels are missing. */
  enrichmentError?: string;
}

/** A core/v1-shaped Event without managedFields, empty fields or noise. Absent fields were not set. */
export interface MinifiedEvent {
  apiVersion: "v1";
  kind: "Event";
  metadata: { name?: string; namespace?: string; uid: string; resourceVersion: string; creationTimestamp?: string };
  involvedObject: MinifiedObject;
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

/**
 * Builds the minified event from a validated record and its view. Drops everything the view does not carry
 * (managedFields, selfLink, annotations, empty strings and nulls); renames events.k8s.io fields (`regarding`,
 * `note`, `deprecated*`, `reportingController`) to their core/v1 names. Pure.
 */
export function toMinifiedEvent(record: EventRecord, view: EventView): MinifiedEvent {
  const metadata: MinifiedEvent["metadata"] = {
    name: view.name,
    namespace: view.namespace,
    uid: view.uid,
    resourceVersion: view.resourceVersion,
    creationTimestamp: view.creationTimestamp,
  };
  const event: MinifiedEvent = {
    apiVersion: "v1",
    kind: "Event",
    metadata: withoutUndefined(metadata),
    involvedObject: toMinifiedObject(record, view.involvedObject),
    reason: view.reason,
    message: view.message,
    type: view.type,
    action: view.action,
    count: view.count,
    series: view.series,
    eventTime: view.eventTime,
    firstTimestamp: view.firstTimestamp,
    lastTimestamp: view.lastTimestamp,
    reportingComponent: view.reportingComponent,
    reportingInstance: view.reportingInstance,
    source: view.source,
    related: view.related && Object.keys(view.related).length > 0 ? view.related : undefined,
  };
  return withoutUndefined(event);
}

function toMinifiedObject(record: EventRecord, ref: ObjectRef): MinifiedObject {
  const enrichment = record.enrichment;
  const labels = enrichment?.labels;
  const owners = toOwners(enrichment?.owners);
  const compositionId = enrichment?.compositionId;
  const error = enrichment?.error;
  return withoutUndefined<MinifiedObject>({
    ...ref,
    labels: labels && Object.keys(labels).length > 0 ? labels : undefined,
    owners: owners && owners.length > 0 ? owners : undefined,
    compositionId: typeof compositionId === "string" && compositionId !== "" ? compositionId : undefined,
    enrichmentError: typeof error === "string" && error !== "" ? error : undefined,
  });
}

/** Owner references as sent, each cut to its four identity fields; entries that are not objects are left out. */
function toOwners(value: unknown): OwnerRef[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const owners: OwnerRef[] = [];
  for (const entry of value) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) continue;
    const o = entry as Record<string, unknown>;
    const owner: Partial<OwnerRef> = {};
    for (const key of ["apiVersion", "kind", "name", "uid"] as const) {
      if (typeof o[key] === "string" && o[key] !== "") owner[key] = o[key];
    }
    if (Object.keys(owner).length > 0) owners.push(owner as OwnerRef);
  }
  return owners;
}

/** A copy of `value` without its undefined fields (copying keeps V8's fast objects; `delete` would not). */
function withoutUndefined<T extends object>(value: T): T {
  const out = {} as T;
  for (const key in value) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}
