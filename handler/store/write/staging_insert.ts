/**
 * The deduplicating path: COPY into a session-local staging table, then `INSERT ... SELECT ... ON CONFLICT DO
 * NOTHING` into `k8s_events`, so rows already stored are skipped (the table's trigger announces only the inserted
 * ones). Taken when a batch's direct COPY met a stored row (`direct_copy.ts`), and for the cluster's next batches;
 * also how row isolation (`row_isolation.ts`) writes each part of a batch the database refused.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "./copy_encoding.ts";
import { openCopy, settleCopy, startCopy } from "./copy_writer.ts";
import { type KnownPartitions, PartitionsNeededError } from "../schema/known_partitions.ts";
import { EVENTS_TABLE } from "../schema/partitions.ts";
import type { RowFeed } from "../../ingest/row_feed.ts";
import { quoteIdentifier } from "../schema/sql_runner.ts";
import type { WriteSession } from "../write_session.ts";

/** The temporary table rows are staged in; one per connection, emptied at each commit. */
const STAGING_TABLE = "ingester_staging";

/** What one staged insert writes: rows in hand, then the rest of a streamed batch as it arrives. */
export interface StagingInput {
  rows: readonly EventRow[];
  feed?: RowFeed;
}

/** Inserts rows through the staging table. */
export interface StagingInsert {
  /**
   * COPYs `rows`, then the rest of `feed` as it arrives, into the staging table (created on the connection's first
   * use), then inserts what is not stored yet and returns that count. The staged rows stay until the commit.
   * Throws PartitionsNeededError before the insert when a streamed row needs a day whose partition is not known,
   * RangeError for a value with a NUL, and the database's errors.
   */
  insert(session: WriteSession, input: StagingInput): Promise<number>;
  /**
   * Inserts `rows` the same way, then empties the staging table (TRUNCATE: a DELETE would leave the rows for every
   * later part's scan to step over until the commit), so that the next call stages only its own rows; for a batch
   * written in parts. Returns rows inserted; throws like `insert`.
   */
  insertPart(session: WriteSession, rows: readonly EventRow[]): Promise<number>;
}

/** Builds the deduplicating insert for `k8s_events` in `schema`. No I/O until it is used. */
export function createStagingInsert(options: { schema: string; partitions: KnownPartitions }): StagingInsert {
  const { partitions } = options;
  const table = `${quoteIdentifier(options.schema)}.${EVENTS_TABLE}`;
  const columns = COPY_COLUMNS.join(", ");
  const copySql = `copy pg_temp.${STAGING_TABLE} (${columns}) from stdin`;
  const stagingSql = `create temp table if not exists ${STAGING_TABLE} on commit delete rows as` +
    ` select ${columns} from ${table} with no data`;
  const insertSql = `insert into ${table} (${columns})` +
    ` select ${columns} from pg_temp.${STAGING_TABLE} on conflict do nothing`;
  const emptySql = `truncate pg_temp.${STAGING_TABLE}`;

  /** COPYs the rows into the staging table; returns the COPY's completion as `CopyStream.end` does. */
  async function stage(session: WriteSession, input: StagingInput): Promise<{ finished: Promise<void> }> {
    const { rows, feed } = input;
    // The staging table lives for the session and empties at each commit. Sent with the COPY, one round trip for
    // both; when it fails, the COPY fails after it and its own error is the one thrown.
    const created = session.execute(stagingSql);
    const open = async () => (await Promise.all([session.copyFrom(copySql), created]))[0];
    if (feed === undefined) return await startCopy(open, rows);
    const copy = await openCopy(open);
    try {
      await copy.write(rows);
      for (let chunk = await feed.next(); chunk !== undefined; chunk = await feed.next()) await copy.write(chunk);
      if (partitions.hasUnknownDay(feed.rows)) {
        throw new PartitionsNeededError("Cannot insert the rows: a day needs a partition");
      }
    } catch (error) {
      copy.abort(error as Error);
      throw error;
    }
    return await copy.end();
  }

  return {
    async insert(session, input) {
      const { finished } = await stage(session, input);
      return await settleCopy(finished, session.execute(insertSql));
    },
    async insertPart(session, rows) {
      const { finished } = await stage(session, { rows });
      const inserted = session.execute(insertSql);
      const emptied = session.execute(emptySql);
      // Sent together; when the insert fails, the truncate fails too ("transaction is aborted") and is not the cause.
      emptied.catch(() => {});
      const count = await settleCopy(finished, inserted);
      await emptied;
      return count;
    },
  };
}
