/**
 * The NDJSON record types the relay sends and the handler accepts (wire contract version 1).
 *
 * Every line is one JSON object with `v` (the contract version) and `kind`. An event record carries one
 * Kubernetes Event version exactly as the API server sent it (minus `metadata.managedFields`) and what the
 * relay learned about the object it concerns; a gap record says that events between two resourceVersions
 * may have expired before the relay could read them.
 */

/** The record version this build writes and the only one it reads. */
export const RECORD_VERSION = 1;

/** A reference to an owner of the involved object, as in `metadata.ownerReferences`. */
export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** What the relay found out about the involved object. Every field is optional: lookups may fail. */
export interface Enrichment {
  /** Labels of the involved object. */
  labels?: Record<string, string>;
  /** Owner chain from the involved object's direct owner up to the top-most owner. */
  owners?: OwnerRef[];
  /** The composition this object belongs to, when known. */
  compositionId?: string | null;
  /** Stable code of the lookup failure when enrichment could not be done (for example `FORBIDDEN`). */
  error?: string;
}

/** A Kubernetes Event as the API server sent it: core/v1 or events.k8s.io shape. */
export type KubernetesEvent = Record<string, unknown>;

/** One version of one Kubernetes Event, observed by a relay. */
export interface EventRecord {
  v: typeof RECORD_VERSION;
  kind: "event";
  /** Cluster name; must be the cluster the sender's token belongs to. */
  cluster: string;
  /** When the relay read the event from the watch (RFC 3339). Not used for partitioning. */
  observedAt: string;
  event: KubernetesEvent;
  enrichment?: Enrichment;
  /**
   * How many older versions of this event the relay's storm control replaced with this one before sending them: a
   * positive integer, absent when none. Their count, lastTimestamp and series are included in this version's.
   */
  replacedVersions?: number;
}

/** Events between two resourceVersions could not be read (for example the watch answered 410 Gone). */
export interface GapRecord {
  v: typeof RECORD_VERSION;
  kind: "gap";
  cluster: string;
  /** Last resourceVersion the relay had seen before the gap, or null when it had seen none. */
  from: string | null;
  /** resourceVersion of the list that closed the gap. */
  to: string;
  /** Stable code of the cause, for example `WATCH_EXPIRED`. */
  reason: string;
  /** When the relay detected the gap (RFC 3339). */
  observedAt: string;
}

export type IngestRecord = EventRecord | GapRecord;
