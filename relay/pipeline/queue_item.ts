/**
 * What the watch loop puts in the relay's queue, in watch order.
 */
import type { ObjectRef } from "../../shared/contract/event_view.ts";
import type { GapRecord } from "../../shared/contract/records.ts";

/**
 * An event version to send. `resumeVersion` is the watch position right after it (its resourceVersion for watch
 * notifications), or null for list items, which are no resume point until the whole list has been queued. Storm
 * control may move it further, to the position of a later notification merged into this or an earlier item
 * (relay/storm_control.ts explains why that is safe).
 */
export interface EventItem {
  kind: "event";
  /** The event's JSON text, as received minus `metadata.managedFields`. */
  eventJson: string;
  /** UTF-8 bytes of `eventJson`. */
  eventBytes: number;
  /** `metadata.uid` of the event: the key storm control replaces by. */
  uid: string;
  /** `metadata.resourceVersion` of this version. */
  resourceVersion: string;
  involvedObject: ObjectRef;
  observedAt: string;
  resumeVersion: string | null;
  queuedAtMs: number;
  /** Older versions of this event this item replaced in the queue (storm control); 0 or absent when none. */
  replacedVersions?: number;
  /** The event's JSON without its cumulative fields, computed when storm control first compares this item. */
  stableJson?: string;
}

/** A gap record to send. */
export interface GapItem {
  kind: "gap";
  record: GapRecord;
  resumeVersion: null;
  queuedAtMs: number;
}

/** A resume point with nothing to send: a bookmark, the end of a list, a DELETED notification, a skipped version. */
export interface MarkItem {
  kind: "mark";
  resumeVersion: string;
  queuedAtMs: number;
}

export type QueueItem = EventItem | GapItem | MarkItem;

/** Bytes a mark or gap is charged in the queue. */
export const SMALL_ITEM_BYTES = 256;
