/**
 * One batch, one transaction: fence check, the rows (deduplicated within the batch), gap records, resume point.
 * Rows go by COPY straight into `k8s_events` inside a savepoint when none is stored yet (`direct_copy.ts`, the common
 * case), else through the staging table (`staging_insert.ts`). A streamed batch is fed to the COPY chunk by chunk
 * while the request body is still being read; when it meets a day without a known partition it rolls back and is
 * written again whole, since partitions cannot be created from another connection while this transaction holds its
 * lock on the table.
 */
import type { Logger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import type { BatchResult, BatchWrite } from "../store.ts";
import { checkFence, insertGaps, upsertCheckpoint } from "../cluster_state.ts";
import { NO_PARTITION_SQLSTATE, toDatabaseErrorCode } from "../database_errors.ts";
import { DirectCopy } from "./direct_copy.ts";
import { KnownPartitions, PartitionsNeededError } from "../schema/known_partitions.ts";
import { toPartitionDays } from "../schema/partitions.ts";
import { dedupeRows } from "../../ingest/row_dedupe.ts";
import { RowFeed } from "../../ingest/row_feed.ts";
import { createStagingInsert } from "./staging_insert.ts";
import type { WriteDatabase, WriteSession } from "../write_session.ts";

/** What the writer is built from. */
export interface BatchWriterOptions {
  database: WriteDatabase;
  /** Schema of all tables, unquoted. */
  schema: string;
  logger: Logger;
}

/** Writes batches; keeps the partitions it knows and each cluster's recent direct-COPY failures. */
export interface BatchWriter {
  /**
   * Writes the batch atomically. Throws FencedError, the database's errors (unmapped) or what a streamed `rows`
   * iterable throws; writes nothing when it throws.
   */
  writeBatch(batch: BatchWrite): Promise<BatchResult>;
  /** The partitions this writer knows; retention tells it which it dropped. */
  partitions: KnownPartitions;
}

function isRowStream(
  rows: readonly EventRow[] | AsyncIterable<readonly EventRow[]>,
): rows is AsyncIterable<readonly EventRow[]> {
  return Symbol.asyncIterator in rows;
}

function toBatchResult(counts: number[], unique: number, repeats: number): BatchResult {
  const [inserted = 0, gapsInserted = 0] = counts;
  return { inserted, duplicates: repeats + unique - inserted, gapsInserted };
}

/** Builds the writer. No I/O happens until a batch is written. */
export function createBatchWriter(options: BatchWriterOptions): BatchWriter {
  const { database, schema } = options;
  const partitions = new KnownPartitions({ database, schema, logger: options.logger });
  const directCopy = new DirectCopy({ schema, partitions });
  const insertDeduplicated = createStagingInsert({ schema, partitions });

  /** Gap records and the resume point, the last statements of every batch's transaction. */
  async function finishBatch(session: WriteSession, batch: BatchWrite): Promise<number> {
    const [gapsInserted] = await Promise.all([
      insertGaps(session, { schema, gaps: batch.gaps }),
      batch.resumeVersion !== null
        ? upsertCheckpoint(session, { schema, cluster: batch.cluster, resumeVersion: batch.resumeVersion })
        : undefined,
    ]);
    return gapsInserted;
  }

  async function checkBatchFence(session: WriteSession, batch: BatchWrite): Promise<void> {
    if (batch.fence) await checkFence(session, { schema, cluster: batch.cluster, fence: batch.fence });
  }

  async function writeOnce(batch: BatchWrite, rows: readonly EventRow[]): Promise<number[]> {
    return await database.begin(async (session) => {
      await checkBatchFence(session, batch);
      let inserted = 0;
      if (rows.length > 0) {
        inserted = await directCopy.tryWrite(session, { cluster: batch.cluster, rows })
          ? rows.length
          : await insertDeduplicated(session, rows);
      }
      return [inserted, await finishBatch(session, batch)];
    });
  }

  /** Writes unique rows held in memory: partitions first, then one transaction. */
  async function writeRows(batch: BatchWrite, rows: readonly EventRow[], repeats: number): Promise<BatchResult> {
    const days = toPartitionDays(rows.map((row) => row.createdAt));
    await partitions.ensure(days);
    let counts: number[];
    try {
      counts = await writeOnce(batch, rows);
    } catch (error) {
      if (toDatabaseErrorCode(error) !== NO_PARTITION_SQLSTATE) throw error;
      // A partition we had seen was dropped meanwhile (retention elsewhere): forget, recreate, retry once.
      partitions.forget(days);
      await partitions.ensure(days);
      counts = await writeOnce(batch, rows);
    }
    return toBatchResult(counts, rows.length, repeats);
  }

  /**
   * Writes a streamed batch: the transaction begins once the first chunk is ready (its days' partitions ensured
   * before), and the COPY is fed chunk by chunk as the body is read. A chunk on a day without a known partition, or
   * a partition dropped meanwhile, rolls the transaction back; the rest is then read and the batch written whole.
   */
  async function writeStream(batch: BatchWrite, source: AsyncIterable<readonly EventRow[]>): Promise<BatchResult> {
    const feed = new RowFeed(source);
    try {
      const first = await feed.next();
      if (first === undefined) return await writeRows(batch, [], feed.repeats);
      await partitions.ensure(toPartitionDays(first.map((row) => row.createdAt)));
      try {
        const counts = await database.begin(async (session) => {
          await checkBatchFence(session, batch);
          const inserted = await directCopy.tryWrite(session, { cluster: batch.cluster, rows: first, feed })
            ? feed.rows.length
            : await insertDeduplicated(session, feed.rows.slice(), feed);
          return [inserted, await finishBatch(session, batch)];
        });
        return toBatchResult(counts, feed.rows.length, feed.repeats);
      } catch (error) {
        const isPartitionGone = toDatabaseErrorCode(error) === NO_PARTITION_SQLSTATE;
        if (feed.hasFailed || !(error instanceof PartitionsNeededError || isPartitionGone)) throw error;
        await feed.drain();
        if (isPartitionGone) partitions.forget(toPartitionDays(feed.rows.map((row) => row.createdAt)));
        return await writeRows(batch, feed.rows, feed.repeats);
      }
    } finally {
      feed.close();
    }
  }

  async function writeBatch(batch: BatchWrite): Promise<BatchResult> {
    if (isRowStream(batch.rows)) return await writeStream(batch, batch.rows);
    const { rows, repeats } = dedupeRows(batch.rows);
    return await writeRows(batch, rows, repeats);
  }

  return { writeBatch, partitions };
}
