/**
 * The days whose daily partition of `k8s_events` this process knows to exist, and the creation of missing ones.
 * A write checks its rows' days here first, so the common case (all days known) costs no DDL and no round trip.
 */
import type { Logger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { ensurePartition, toTimestampDay } from "./partitions.ts";
import { NO_PARTITION_SQLSTATE, PARTITION_OVERLAP_SQLSTATE, toDatabaseErrorCode } from "../database_errors.ts";
import type { WriteDatabase } from "../write_session.ts";

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
   * counts as known: the rows go there, as that owner intended. Throws the database's other errors.
   */
  async ensure(days: readonly string[]): Promise<void> {
    const { database, schema, logger } = this.#options;
    for (const day of days) {
      if (this.#days.has(day)) continue;
      try {
        const isCreated = await database.begin((session) => ensurePartition(session, { schema, day }));
        if (isCreated) logger.info("created partition", { day });
      } catch (error) {
        const code = toDatabaseErrorCode(error);
        if (code !== PARTITION_OVERLAP_SQLSTATE && code !== NO_PARTITION_SQLSTATE) throw error;
        // Covered by another owner's partition (see above): writing into it is what that owner intended.
        logger.info("day covered by an existing partition", { day, code });
      }
      this.#days.add(day);
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
