/**
 * What the handler needs from storage. The PostgreSQL adapter (`postgres_store.ts`) is the only implementation;
 * the HTTP layer depends on this interface alone.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import type { GapRecord } from "../../shared/contract/records.ts";
import type { CheckpointResponse, Fence } from "../../shared/contract/protocol.ts";

/**
 * Everything one request writes, in one transaction. `rows` is either all the rows at once or, for a body still
 * arriving, an async iterable of row chunks: the store begins the transaction and checks the fence when the first
 * chunk is ready and feeds the rows to the database as chunks arrive, so parsing overlaps writing. If the iterable
 * throws (a framing error, a limit, an aborted request), the transaction is rolled back and that error rethrown:
 * nothing of the batch is stored. If the store fails first, it stops the iterable (`return()`).
 */
export interface BatchWrite {
  cluster: string;
  /** Valid event rows, possibly with repeats of the same (globalUid, resourceVersion), within or across chunks. */
  rows: readonly EventRow[] | AsyncIterable<readonly EventRow[]>;
  /** Gap records; read only once `rows` is consumed, so a streaming reader may fill the array as it reads. */
  gaps: readonly GapRecord[];
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

/** The batch came from a writer older than the newest one seen for its cluster. */
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
  /**
   * Writes the batch atomically. Throws FencedError, StoreUnavailableError or what the `rows` iterable throws;
   * writes nothing when it throws.
   */
  writeBatch(batch: BatchWrite): Promise<BatchResult>;
  readCheckpoint(cluster: string): Promise<CheckpointResponse>;
  /** True when the database answers and the schema is in place. Never throws. */
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}
