/**
 * The fast path for batches of new rows: COPY straight into the partitioned `k8s_events` inside a savepoint (the
 * table's trigger announces each row with NOTIFY). A batch holding a row already stored fails there with a unique
 * violation, and one holding a row the table refuses with that refusal; the caller then takes the deduplicating path
 * (`staging_insert.ts`, with row isolation) with the rows pulled so far.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "./copy_encoding.ts";
import { openCopy, settleCopy } from "./copy_writer.ts";
import { isTransientDatabaseError, toDatabaseErrorCode, UNIQUE_VIOLATION_SQLSTATE } from "../database_errors.ts";
import { type KnownPartitions, PartitionsNeededError } from "../schema/known_partitions.ts";
import { EVENTS_TABLE } from "../schema/partitions.ts";
import type { RowFeed } from "../../ingest/row_feed.ts";
import { quoteIdentifier } from "../schema/sql_runner.ts";
import type { WriteSession } from "../write_session.ts";

/** Batches that take the deduplicating path straight away after a direct COPY met a stored row. */
const DIRECT_COPY_SKIPS_AFTER_FAILURE = 8;

/** One batch's rows for the direct COPY: those in hand, then the rest of a streamed batch as it arrives. */
export interface DirectCopyInput {
  cluster: string;
  rows: readonly EventRow[];
  feed?: RowFeed;
}

/** The direct COPY, with its per-cluster memory of recent failures. One instance per store. */
export class DirectCopy {
  readonly #copySql: string;
  readonly #partitions: KnownPartitions;
  /** Per cluster: batches left that skip the direct COPY after one met a stored row. */
  readonly #skips = new Map<string, number>();

  constructor(options: { schema: string; partitions: KnownPartitions }) {
    this.#copySql = `copy ${quoteIdentifier(options.schema)}.${EVENTS_TABLE} (${COPY_COLUMNS.join(", ")}) from stdin`;
    this.#partitions = options.partitions;
  }

  /**
   * COPYs `rows`, then the chunks of `feed` as they arrive, inside a savepoint of `session`; true when all were
   * written. Any other database failure (a duplicate's unique violation, most likely, or a row the table refuses)
   * rolls back to the savepoint and returns false, and the caller takes the deduplicating path with the rows pulled
   * so far. After a unique violation the cluster's next few batches (DIRECT_COPY_SKIPS_AFTER_FAILURE) skip the
   * attempt, since replays and relists come in runs. Rethrows errors of the feed, transient database errors and
   * PartitionsNeededError (a chunk needs a day whose partition is not known).
   */
  async tryWrite(session: WriteSession, input: DirectCopyInput): Promise<boolean> {
    const { cluster, rows, feed } = input;
    if (this.#takeSkip(cluster)) return false;
    try {
      await session.savepoint(async (savepoint) => {
        const copy = await openCopy(() => savepoint.copyFrom(this.#copySql));
        try {
          await copy.write(rows);
          for (let chunk = await feed?.next(); chunk !== undefined; chunk = await feed?.next()) {
            if (this.#partitions.hasUnknownDay(chunk)) {
              throw new PartitionsNeededError("Cannot copy the chunk: a day needs a partition");
            }
            await copy.write(chunk);
          }
        } catch (error) {
          copy.abort(error as Error);
          throw error;
        }
        const { finished } = await copy.end();
        await settleCopy(finished, savepoint.query("select 1"));
      });
      return true;
    } catch (error) {
      if (feed?.hasFailed || error instanceof PartitionsNeededError || isTransientDatabaseError(error)) throw error;
      // Expected for a batch holding rows already stored (or a row the table refuses); the rows go through the
      // deduplicating path instead, which skips stored rows and isolates refused ones.
      if (toDatabaseErrorCode(error) === UNIQUE_VIOLATION_SQLSTATE) {
        this.#skips.set(cluster, DIRECT_COPY_SKIPS_AFTER_FAILURE);
      }
      return false;
    }
  }

  /** True when the cluster's next batch is to skip the direct COPY (one did meet a stored row recently). */
  #takeSkip(cluster: string): boolean {
    const skips = this.#skips.get(cluster) ?? 0;
    if (skips === 0) return false;
    if (skips === 1) this.#skips.delete(cluster);
    else this.#skips.set(cluster, skips - 1);
    return true;
  }
}
