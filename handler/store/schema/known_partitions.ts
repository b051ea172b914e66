/**
 * The days whose daily partition of `k8s_events` this process knows to exist, and the creation of missing ones.
 * A write checks its rows' days here first, so the common case (all days known) costs no DDL and no round trip.
 */
import type { Logger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { ensurePartition, toTimestampDay } from "./partitions.ts";
import {
  LOCK_NOT_AVAILABLE_SQLSTATE,
  NAME_TAKEN_SQLSTATES,
  NO_PARTITION_SQLSTATE,
  PARTITION_OVERLAP_SQLSTATE,
  toDatabaseErrorCode,
} from "../database_errors.ts";
import { PartitionLockTimeoutError } from "../store.ts";
import type { WriteDatabase } from "../write_session.ts";

/** Seconds the creation of a partition may wait for each lock it needs, unless PARTITION_LOCK_TIMEOUT_S says. */
export const PARTITION_LOCK_TIMEOUT_S_DEFAULT = 5;

/**
 * Inside a streamed write: a chunk needs a day whose partition is not known. Partitions cannot be created from
 * another connection while the write's transaction holds its lock on the table, so the write starts over whole.
 */
export class PartitionsNeededError extends Error {
  override name = "PartitionsNeededError";
}

/** What the cache needs: where partitions are made, in which schema, and where to log their creation. */
export interface KnownPartitionsOptions {
  database: WriteDatabase;
  /** Schema of `k8s_events`, unquoted. */
  schema: string;
  logger: Logger;
  /** Longest wait for each lock while creating a partition, in seconds; PARTITION_LOCK_TIMEOUT_S_DEFAULT if omitted. */
  lockTimeoutS?: number;
}

/** Days (`YYYY-MM-DD`, UTC) with a partition this process has ensured. One instance per store. */
export class KnownPartitions {
  readonly #days = new Set<string>();
  readonly #options: KnownPartitionsOptions;

  constructor(options: KnownPartitionsOptions) {
    this.#options = options;
  }

  /**
   * Creates the partition of every day not known yet, each in its own transaction, and remembers the days. A day
   * already covered by another schema owner's partition (a wider range, or a default partition holding rows of it)
   * counts as known: the rows go there, as that owner intended. Throws PartitionLockTimeoutError when a lock was not
   * granted within `lockTimeoutS`, and the database's other errors as they are.
   */
  async ensure(days: readonly string[]): Promise<void> {
    const { logger } = this.#options;
    const lockTimeoutS = this.#options.lockTimeoutS ?? PARTITION_LOCK_TIMEOUT_S_DEFAULT;
    for (const day of days) {
      if (this.#days.has(day)) continue;
      try {
        await this.#create(day, lockTimeoutS);
      } catch (error) {
        const code = toDatabaseErrorCode(error);
        if (code === LOCK_NOT_AVAILABLE_SQLSTATE) {
          throw new PartitionLockTimeoutError(
            `Cannot create the partition of ${day}: a lock on k8s_events was not granted within ${lockTimeoutS} s`,
            { cause: error },
          );
        }
        if (code !== PARTITION_OVERLAP_SQLSTATE && code !== NO_PARTITION_SQLSTATE) throw error;
        // Covered by another owner's partition (see above): writing into it is what that owner intended.
        logger.info("day covered by an existing partition", { day, code });
      }
      this.#days.add(day);
    }
  }

  /**
   * Creates one day's partition in its own transaction, and logs it. Tries a second time when another session (the
   * Krateo stack's partition job, which does not take the handler's advisory lock) created the same table meanwhile:
   * the second try finds it and leaves it as it is.
   */
  async #create(day: string, lockTimeoutS: number): Promise<void> {
    const { database, schema, logger } = this.#options;
    for (let attempt = 1;; attempt++) {
      try {
        const created = await database.begin((session) =>
          ensurePartition(session, { schema, day, lockTimeoutMs: lockTimeoutS * 1000 })
        );
        if (created !== null) {
          logger.info("created partition", {
            day,
            template: created.template,
            indexes: created.indexes.join(","),
            skippedIndexes: created.skipped.join(","),
          });
        }
        return;
      } catch (error) {
        if (attempt >= 2 || !NAME_TAKEN_SQLSTATES.has(toDatabaseErrorCode(error) ?? "")) throw error;
      }
    }
  }

  /** Forgets days whose partition was dropped (here by retention, or elsewhere), so the next write recreates it. */
  forget(days: Iterable<string>): void {
    for (const day of days) this.#days.delete(day);
  }

  /** True when a row falls on a day whose partition has not been ensured. Rows sorted by time cost one check a day. */
  hasUnknownDay(rows: readonly EventRow[]): boolean {
    let lastDay = "";
    for (const row of rows) {
      // startsWith compares in place: no day string is cut out for a row on the same day as the one before.
      if (lastDay !== "" && row.createdAt.startsWith(lastDay)) continue;
      lastDay = toTimestampDay(row.createdAt);
      if (!this.#days.has(lastDay)) return true;
    }
    return false;
  }
}
