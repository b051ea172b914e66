/**
 * The minified event stored in `k8s_events.raw`: what a reader needs, in core/v1 field names whichever API shape
 * the event came in, with the relay's enrichment folded into the involved object and its storm control's count of
 * replaced versions at the top level.
 */
import type { EventView, ObjectRef } from "../../shared/contract/event_view.ts";
import type { EventRecord, OwnerRef } from "../../shared/contract/records.ts";

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

/** The identity fields of the view, which the minified event keeps under `metadata` as core/v1 does. */
type IdentityField = "uid" | "resourceVersion" | "name" | "namespace" | "creationTimestamp";

/** A core/v1-shaped Event without managedFields, empty fields or noise. Absent fields were not set. */
export interface MinifiedEvent extends Omit<EventView, IdentityField | "involvedObject"> {
  apiVersion: "v1";
  kind: "Event";
  metadata: Pick<EventView, IdentityField>;
  involvedObject: MinifiedObject;
  /** Older versions the relay's storm control replaced with this one (the record's `replacedVersions`). */
  replacedVersions?: number;
}

/**
 * Builds the minified event from a validated record and its view. Drops everything the view does not carry
 * (managedFields, selfLink, annotations, empty strings and nulls); renames events.k8s.io fields (`regarding`,
 * `note`, `deprecated*`, `reportingController`) to their core/v1 names. Pure; builds each object in one pass with
 * keys in one fixed order, so all minified events share their shapes and serialise fast.
 */
export function toMinifiedEvent(record: EventRecord, view: EventView): MinifiedEvent {
  const metadata: MinifiedEvent["metadata"] = {} as MinifiedEvent["metadata"];
  if (view.name !== undefined) metadata.name = view.name;
  if (view.namespace !== undefined) metadata.namespace = view.namespace;
  metadata.uid = view.uid;
  metadata.resourceVersion = view.resourceVersion;
  if (view.creationTimestamp !== undefined) metadata.creationTimestamp = view.creationTimestamp;
  const event: MinifiedEvent = {
    apiVersion: "v1",
    kind: "Event",
    metadata,
    involvedObject: toMinifiedObject(record, view.involvedObject),
  };
  if (view.reason !== undefined) event.reason = view.reason;
  if (view.message !== undefined) event.message = view.message;
  if (view.type !== undefined) event.type = view.type;
  if (view.action !== undefined) event.action = view.action;
  if (view.count !== undefined) event.count = view.count;
  if (view.series !== undefined) event.series = view.series;
  if (view.eventTime !== undefined) event.eventTime = view.eventTime;
  if (view.firstTimestamp !== undefined) event.firstTimestamp = view.firstTimestamp;
  if (view.lastTimestamp !== undefined) event.lastTimestamp = view.lastTimestamp;
  if (view.reportingComponent !== undefined) event.reportingComponent = view.reportingComponent;
  if (view.reportingInstance !== undefined) event.reportingInstance = view.reportingInstance;
  if (view.source !== undefined) event.source = view.source;
  if (view.related !== undefined && hasKeys(view.related)) event.related = view.related;
  if (record.replacedVersions !== undefined) event.replacedVersions = record.replacedVersions;
  return event;
}

function hasKeys(value: object): boolean {
  for (const _ in value) return true;
  return false;
}

function toMinifiedObject(record: EventRecord, ref: ObjectRef): MinifiedObject {
  const object: MinifiedObject = {};
  if (ref.apiVersion !== undefined) object.apiVersion = ref.apiVersion;
  if (ref.kind !== undefined) object.kind = ref.kind;
  if (ref.name !== undefined) object.name = ref.name;
  if (ref.namespace !== undefined) object.namespace = ref.namespace;
  if (ref.uid !== undefined) object.uid = ref.uid;
  if (ref.resourceVersion !== undefined) object.resourceVersion = ref.resourceVersion;
  if (ref.fieldPath !== undefined) object.fieldPath = ref.fieldPath;
  const enrichment = record.enrichment;
  if (enrichment === undefined) return object;
  const labels = enrichment.labels;
  if (labels !== undefined && hasKeys(labels)) object.labels = labels;
  const owners = toOwners(enrichment.owners);
  if (owners !== undefined && owners.length > 0) object.owners = owners;
  const compositionId = enrichment.compositionId;
  if (typeof compositionId === "string" && compositionId !== "") object.compositionId = compositionId;
  const error = enrichment.error;
  if (typeof error === "string" && error !== "") object.enrichmentError = error;
  return object;
}

/** Owner references as sent, each cut to its four identity fields; entries that are not objects are left out. */
function toOwners(value: unknown): OwnerRef[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const owners: OwnerRef[] = [];
  for (const entry of value) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) continue;
    const o = entry as Record<string, unknown>;
    const owner: Partial<OwnerRef> = {};
    let isEmpty = true;
    for (const key of OWNER_KEYS) {
      const v = o[key];
      if (typeof v === "string" && v !== "") {
        owner[key] = v;
        isEmpty = false;
      }
    }
    if (!isEmpty) owners.push(owner as OwnerRef);
  }
  return owners;
}

const OWNER_KEYS = ["apiVersion", "kind", "name", "uid"] as const;
