/**
 * The deduplicating path: COPY into a session-local staging table, then `INSERT ... SELECT ... ON CONFLICT DO
 * NOTHING` into `k8s_events`, so rows already stored are skipped (the table's trigger announces only the inserted
 * ones). Taken when a batch's direct COPY met a stored row (`direct_copy.ts`), and for the cluster's next batches.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "./copy_encoding.ts";
import { openCopy, startCopy } from "./copy_writer.ts";
import { type KnownPartitions, PartitionsNeededError } from "../schema/known_partitions.ts";
import { EVENTS_TABLE } from "../schema/partitions.ts";
import type { RowFeed } from "../../ingest/row_feed.ts";
import { quoteIdentifier } from "../schema/sql_runner.ts";
import type { WriteSession } from "../write_session.ts";

/** The temporary table rows are staged in; one per connection, emptied at each commit. */
const STAGING_TABLE = "ingester_staging";

/** Inserts rows through the staging table; returns rows inserted. */
export type StagingInsert = (session: WriteSession, rows: readonly EventRow[], feed?: RowFeed) => Promise<number>;

/**
 * Builds the deduplicating insert for `k8s_events` in `schema`. The returned function COPYs `rows`, then the rest of
 * `feed` as it arrives, into the staging table (created on the connection's first use), then inserts what is not
 * stored yet and returns that count. Throws PartitionsNeededError before the insert when a streamed row needs a day
 * whose partition is not known, RangeError for a value with a NUL, and the database's errors.
 */
export function createStagingInsert(options: { schema: string; partitions: KnownPartitions }): StagingInsert {
  const { partitions } = options;
  const table = `${quoteIdentifier(options.schema)}.${EVENTS_TABLE}`;
  const columns = COPY_COLUMNS.join(", ");
  const copySql = `copy pg_temp.${STAGING_TABLE} (${columns}) from stdin`;
  const stagingSql = `create temp table if not exists ${STAGING_TABLE} on commit delete rows as` +
    ` select ${columns} from ${table} with no data`;
  const insertSql = `insert into ${table} (${columns})` +
    ` select ${columns} from pg_temp.${STAGING_TABLE} on conflict do nothing`;

  return async (session, rows, feed) => {
    // The staging table lives for the session and empties at each commit.
    await session.execute(stagingSql);
    let finished: Promise<void>;
    if (feed === undefined) {
      ({ finished } = await startCopy(() => session.copyFrom(copySql), rows));
    } else {
      const copy = await openCopy(() => session.copyFrom(copySql));
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
      ({ finished } = await copy.end());
    }
    const [inserted] = await Promise.all([session.execute(insertSql), finished]);
    return inserted;
  };
}
