/**
 * What the handler needs from storage. The PostgreSQL adapter (`postgres_store.ts`) is the only implementation;
 * the HTTP layer depends on this interface alone.
 */
import type { EventRow } from "../shared/event_row.ts";
import type { GapRecord } from "../shared/records.ts";
import type { CheckpointResponse, Fence } from "../shared/protocol.ts";

/** Everything one request writes, in one transaction. */
export interface BatchWrite {
  cluster: string;
  /** Valid event rows, possibly with repeats of the same (globalUid, resourceVersion). */
  rows: EventRow[];
  gaps: GapRecord[];
  /** Stored as the cluster's resume point when the rows are committed; null leaves the stored one as it is. */
  resumeVersion: string | null;
  /** Checked against the newest fence seen for the cluster before anything is written; null skips the check. */
  fence: Fence | null;
}

export interface BatchResult {
  /** Rows newly inserted (each announced with one NOTIFY). */
  inserted: number;
  /** Rows that were already stored or repeated within the batch. */
  duplicates: number;
  gapsInserted: number;
}

/** The batch came from a writer older than the newest one seen for its cluster (DESIGN rule 3.5). */
export class FencedError extends Error {
  override name = "FencedError";
  constructor(message: string, readonly newest: Fence, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The database could not be reached or failed transiently; nothing was written, the caller may retry. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

export interface Store {
  /** Writes the batch atomically. Throws FencedError or StoreUnavailableError; writes nothing when it throws. */
  writeBatch(batch: BatchWrite): Promise<BatchResult>;
  readCheckpoint(cluster: string): Promise<CheckpointResponse>;
  /** True when the database answers and the schema is in place. Never throws. */
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}
