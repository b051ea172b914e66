/**
 * The mapping from an event record to a `k8s_events` row.
 */
import type { EventRecord } from "./records.ts";
import { type EventView, toEventInstant } from "./event_view.ts";

/** One row of `k8s_events`, before the database adds `event_id`. `raw` is JSON text of the minified event. */
export interface EventRow {
  /**
   * When the version happened, as RFC 3339 text in UTC (`Z`), passed to PostgreSQL as it is so that no precision is
   * lost on the way; parseTimestamp writes it with six fraction digits. Its first ten characters are its UTC day.
   */
  createdAt: string;
  clusterName: string;
  uid: string;
  globalUid: string;
  namespace: string | null;
  resourceKind: string | null;
  resourceName: string | null;
  involvedObjectUid: string | null;
  eventType: string | null;
  reason: string | null;
  message: string | null;
  compositionId: string | null;
  raw: string;
  resourceVersion: string;
}

/**
 * The `k8s_events` columns a row leaves null when its event lacks what they are mapped from (below, toEventRow), with
 * the row field and the record field each comes from. An adopted table may declare some of them NOT NULL; those
 * fields are then required of every event (handler/README.md, "Using an existing schema").
 */
export const NULLABLE_COLUMN_SOURCES = {
  namespace: { key: "namespace", field: "event.metadata.namespace (else event.involvedObject.namespace)" },
  resource_kind: { key: "resourceKind", field: "event.involvedObject.kind" },
  resource_name: { key: "resourceName", field: "event.involvedObject.name" },
  involved_object_uid: { key: "involvedObjectUid", field: "event.involvedObject.uid" },
  event_type: { key: "eventType", field: "event.type" },
  reason: { key: "reason", field: "event.reason" },
  message: { key: "message", field: "event.message (event.note)" },
  composition_id: { key: "compositionId", field: "enrichment.compositionId (a UUID)" },
} as const satisfies Record<string, { key: keyof EventRow; field: string }>;

/** A column of `k8s_events` that a row may leave null. */
export type NullableColumn = keyof typeof NULLABLE_COLUMN_SOURCES;

/** True for the name of a column a row may leave null. */
export function isNullableColumn(name: string): name is NullableColumn {
  return Object.hasOwn(NULLABLE_COLUMN_SOURCES, name);
}

/** The first of the `required` columns (in NULLABLE_COLUMN_SOURCES order) the row leaves null; undefined if none. */
export function findMissingColumn(row: EventRow, required: ReadonlySet<NullableColumn>): NullableColumn | undefined {
  if (required.size === 0) return undefined;
  for (const [column, source] of Object.entries(NULLABLE_COLUMN_SOURCES)) {
    if (row[source.key] === null && required.has(column as NullableColumn)) return column as NullableColumn;
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for the textual form of a UUID, the only composition ids the `uuid` column can hold. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** `<apiVersion>.<Kind>` (`v1.Pod`, `apps/v1.Deployment`); the Kind alone when the source left apiVersion out. */
export function toResourceKind(apiVersion: string | undefined, kind: string | undefined): string | null {
  if (kind === undefined) return null;
  return apiVersion === undefined ? kind : `${apiVersion}.${kind}`;
}

/** `<cluster>:<event uid>`: unique across clusters, the key the existing stack dedupes on. */
export function toGlobalUid(cluster: string, uid: string): string {
  return `${cluster}:${uid}`;
}

/**
 * Maps a validated event record, read through its view, to a row. `raw` is the minified event's JSON text.
 * Throws RangeError when the record carries no usable timestamp (validation rejects those first).
 */
export function toEventRow(record: EventRecord, view: EventView, raw: string): EventRow {
  const createdAt = toEventInstant(view);
  if (createdAt === undefined) throw new RangeError(`Cannot map event ${view.uid}: it has no timestamp`);
  const io = view.involvedObject;
  const compositionId = record.enrichment?.compositionId;
  return {
    createdAt,
    clusterName: record.cluster,
    uid: view.uid,
    globalUid: toGlobalUid(record.cluster, view.uid),
    namespace: view.namespace ?? io.namespace ?? null,
    resourceKind: toResourceKind(io.apiVersion, io.kind),
    resourceName: io.name ?? null,
    involvedObjectUid: io.uid ?? null,
    eventType: view.type ?? null,
    reason: view.reason ?? null,
    message: view.message ?? null,
    compositionId: isUuid(compositionId) ? compositionId.toLowerCase() : null,
    raw,
    resourceVersion: view.resourceVersion,
  };
}
