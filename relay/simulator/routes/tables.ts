/**
 * Table answers (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), the server-side printing kubectl asks
 * for: the API server's event columns, and NAME / AGE for other kinds.
 */
import type { CoreV1Event, KubeObject, ObjectMeta } from "../stores/kube_types.ts";
import { toRepresentation } from "./accept.ts";

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** One printed row and the metadata of its object. */
export interface TableRow {
  cells: unknown[];
  object: { kind: "PartialObjectMetadata"; apiVersion: "meta.k8s.io/v1"; metadata: ObjectMeta };
}

const column = (name: string, description: string, priority = 0): Column => ({
  name,
  type: "string",
  format: "",
  description,
  priority,
});

/** The API server's columns for events. */
export const EVENT_COLUMNS: readonly Column[] = [
  column("Last Seen", "Time when the most recent occurrence of this event was recorded."),
  column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
  column("Reason", "This should be a short, machine understandable string that gives the reason for the transition."),
  column("Object", "The object that this event is about."),
  column("Subobject", "The field of the object this event is about.", 1),
  column("Source", "The component reporting this event.", 1),
  column("Message", "A human-readable description of the status of this operation."),
  column("First Seen", "The time at which the event was first recorded.", 1),
  column("Count", "The number of times this event has occurred.", 1),
  { ...column("Name", "Name must be unique within a namespace.", 1), format: "name" },
];

/** The default columns for kinds without their own printer. */
export const OBJECT_COLUMNS: readonly Column[] = [
  { ...column("Name", "Name must be unique within a namespace."), format: "name" },
  column("Age", "CreationTimestamp is a timestamp representing the server time when this object was created."),
];

/** The printed row of an event at `nowMs`. */
export function toEventRow(event: CoreV1Event, nowMs: number): TableRow {
  let firstSeen = since(event.firstTimestamp, nowMs);
  if (!event.firstTimestamp) firstSeen = since(event.eventTime, nowMs);
  let lastSeen = event.lastTimestamp ? since(event.lastTimestamp, nowMs) : firstSeen;
  let count = event.count || 1;
  if (event.series) {
    lastSeen = since(event.series.lastObservedTime, nowMs);
    count = event.series.count;
  }
  const involved = event.involvedObject;
  const kind = (involved.kind ?? "").toLowerCase();
  const target = involved.name ? `${kind}/${involved.name}` : kind;
  return {
    cells: [
      lastSeen,
      event.type ?? "",
      event.reason ?? "",
      target,
      involved.fieldPath ?? "",
      toSourceText(event),
      (event.message ?? "").trim(),
      firstSeen,
      count,
      event.metadata.name ?? "",
    ],
    object: toPartialObjectMetadata(event.metadata),
  };
}

/** The printed row of any other object at `nowMs`. */
export function toObjectRow(object: KubeObject, nowMs: number): TableRow {
  return {
    cells: [object.metadata.name ?? "", since(object.metadata.creationTimestamp, nowMs)],
    object: toPartialObjectMetadata(object.metadata),
  };
}

/** A Table object. Columns are left out when `isHeaderless` (watch events after the first). */
export function toTable(
  columns: readonly Column[],
  rows: TableRow[],
  options: { resourceVersion?: string; continueToken?: string; isHeaderless?: boolean } = {},
): Record<string, unknown> {
  const metadata: Record<string, string> = {};
  if (options.resourceVersion !== undefined) metadata.resourceVersion = options.resourceVersion;
  if (options.continueToken !== undefined) metadata.continue = options.continueToken;
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: options.isHeaderless ? null : columns,
    rows,
  };
}

/**
 * One object in the representation `accept` asks for: itself, its PartialObjectMetadata, or a Table holding its
 * one row (`row()`, printed with `columns`) at the object's resourceVersion.
 */
export function toObjectRepresentation(
  accept: string | null,
  object: { metadata: ObjectMeta },
  table: { columns: readonly Column[]; row: () => TableRow },
): unknown {
  const representation = toRepresentation(accept);
  if (representation === "metadata") return toPartialObjectMetadata(object.metadata);
  if (representation === "table") {
    return toTable(table.columns, [table.row()], { resourceVersion: object.metadata.resourceVersion });
  }
  return object;
}

/** `PartialObjectMetadata` of an object: its metadata without managedFields. */
export function toPartialObjectMetadata(metadata: ObjectMeta): TableRow["object"] {
  const { managedFields: _managedFields, ...rest } = metadata;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: rest };
}

function toSourceText(event: CoreV1Event): string {
  const component = event.source?.component || event.reportingComponent || "";
  const host = event.source?.host || event.reportingInstance || "";
  return host ? `${component}, ${host}` : component;
}

function since(timestamp: string | null | undefined, nowMs: number): string {
  if (!timestamp) return "<unknown>";
  const thenMs = Date.parse(timestamp);
  if (Number.isNaN(thenMs)) return "<unknown>";
  return toHumanDuration(nowMs - thenMs);
}

/** Kubernetes' `duration.HumanDuration`: "45s", "3m12s", "17m", "5h3m", "3d4h", "2y30d". */
export function toHumanDuration(durationMs: number): string {
  const seconds = Math.trunc(durationMs / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    return hours % 24 === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${hours % 24}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const days = Math.trunc(hours / 24) % 365;
  if (hours < 24 * 365 * 8) return days === 0 ? `${Math.trunc(hours / 8760)}y` : `${Math.trunc(hours / 8760)}y${days}d`;
  return `${Math.trunc(hours / 8760)}y`;
}
