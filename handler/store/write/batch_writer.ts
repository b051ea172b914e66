/**
 * One batch, one transaction: fence check, the rows (deduplicated within the batch), gap records, resume point.
 * Rows go by COPY straight into `k8s_events` inside a savepoint when none is stored yet (`direct_copy.ts`, the common
 * case), else through the staging table (`staging_insert.ts`). A streamed batch is fed to the COPY chunk by chunk
 * while the request body is still being read; when it meets a day without a known partition it rolls back and is
 * written again whole, since partitions cannot be created from another connection while this transaction holds its
 * lock on the table. When the database refuses a row (a constraint, a trigger, a value its column cannot hold), the
 * staged insert rolls back to its savepoint and the rows are written in parts that leave the refused ones out
 * (`row_isolation.ts`), in the same transaction as the resume point.
 */
import { describeError, type Logger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import type { BatchResult, BatchWrite, RefusedRow } from "../store.ts";
import { checkFence, insertGaps, upsertCheckpoint } from "../cluster_state.ts";
import { isRowRefusalError, NO_PARTITION_SQLSTATE, toDatabaseErrorCode } from "../database_errors.ts";
import { DirectCopy } from "./direct_copy.ts";
import { KnownPartitions, PartitionsNeededError } from "../schema/known_partitions.ts";
import { toPartitionDays } from "../schema/partitions.ts";
import { dedupeRows } from "../../ingest/row_dedupe.ts";
import { RowFeed } from "../../ingest/row_feed.ts";
import { isolateRefusedRows, ROW_REFUSALS_MAX_DEFAULT } from "./row_isolation.ts";
import { createStagingInsert, type StagingInput } from "./staging_insert.ts";
import type { WriteDatabase, WriteSession } from "../write_session.ts";

/** What the writer is built from. */
export interface BatchWriterOptions {
  database: WriteDatabase;
  /** Schema of all tables, unquoted. */
  schema: string;
  logger: Logger;
  /** Longest wait for each lock while creating a partition, in seconds (PARTITION_LOCK_TIMEOUT_S). */
  partitionLockTimeoutS?: number;
}

/** Writes batches; keeps the partitions it knows and each cluster's recent direct-COPY failures. */
export interface BatchWriter {
  /**
   * Writes the batch atomically, leaving out the rows the database refuses (listed in the result). Throws
   * FencedError, RowRefusalsExceededError, the database's other errors (unmapped) or what a streamed `rows`
   * iterable throws; writes nothing when it throws.
   */
  writeBatch(batch: BatchWrite): Promise<BatchResult>;
  /** The partitions this writer knows; retention tells it which it dropped. */
  partitions: KnownPartitions;
}

/** What one transaction did: rows inserted and refused, gap records inserted. */
interface Written {
  inserted: number;
  refused: RefusedRow[];
  gapsInserted: number;
}

function isRowStream(
  rows: readonly EventRow[] | AsyncIterable<readonly EventRow[]>,
): rows is AsyncIterable<readonly EventRow[]> {
  return Symbol.asyncIterator in rows;
}

/**
 * The counts of a batch of `unique` rows after dedupe, `repeated` the rows dropped as repeats. A repeat of a refused
 * row is refused with it (its first occurrence was not stored, so it is no duplicate); the other repeats and the
 * rows neither inserted nor refused (stored already) are duplicates.
 */
function toBatchResult(written: Written, unique: number, repeated: readonly EventRow[]): BatchResult {
  const { inserted, gapsInserted } = written;
  const refused = [...written.refused, ...toRefusedRepeats(written.refused, repeated)];
  const duplicates = repeated.length + unique - inserted - refused.length;
  return refused.length === 0
    ? { inserted, duplicates, gapsInserted }
    : { inserted, duplicates, gapsInserted, refused };
}

function toRefusedRepeats(refused: readonly RefusedRow[], repeated: readonly EventRow[]): RefusedRow[] {
  if (refused.length === 0 || repeated.length === 0) return [];
  const keyOf = (row: EventRow) => `${row.globalUid}\n${row.resourceVersion}`;
  const reasons = new Map(refused.map(({ row, reason }) => [keyOf(row), reason]));
  const repeats: RefusedRow[] = [];
  for (const row of repeated) {
    const reason = reasons.get(keyOf(row));
    if (reason !== undefined) repeats.push({ row, reason });
  }
  return repeats;
}

/** Builds the writer. No I/O happens until a batch is written. */
export function createBatchWriter(options: BatchWriterOptions): BatchWriter {
  const { database, schema, logger } = options;
  const partitions = new KnownPartitions({
    database,
    schema,
    logger,
    lockTimeoutS: options.partitionLockTimeoutS,
  });
  const directCopy = new DirectCopy({ schema, partitions });
  const staging = createStagingInsert({ schema, partitions });

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

  /**
   * The deduplicating insert in a savepoint; when the database refuses a row, the rest of a streamed batch is read
   * and all its rows are written again in parts that leave the refused rows out (`isolateRefusedRows`).
   */
  async function insertIsolating(
    session: WriteSession,
    batch: BatchWrite,
    input: StagingInput,
  ): Promise<Omit<Written, "gapsInserted">> {
    const { feed } = input;
    try {
      return { inserted: await session.savepoint((inner) => staging.insert(inner, input)), refused: [] };
    } catch (error) {
      if (feed?.hasFailed || !isRowRefusalError(error)) throw error;
      if (feed !== undefined) await feed.drain();
      const rows = feed?.rows ?? input.rows;
      if (feed !== undefined && partitions.hasUnknownDay(rows)) {
        throw new PartitionsNeededError("Cannot isolate the refused rows: a day needs a partition");
      }
      const fields = { cluster: batch.cluster, rows: rows.length, code: toDatabaseErrorCode(error) };
      try {
        const isolated = await isolateRefusedRows(rows, error, {
          write: (part) => session.savepoint((inner) => staging.insertPart(inner, part), { isReleased: true }),
          refusalsMax: batch.rowRefusalsMax ?? ROW_REFUSALS_MAX_DEFAULT,
        });
        logger.warn("rows refused by the database", {
          ...fields,
          refused: isolated.refused.length,
          writes: isolated.writes,
        });
        return isolated;
      } catch (isolationError) {
        logger.warn("batch refused: isolating the rows the database refused failed", {
          ...fields,
          error: describeError(isolationError),
        });
        throw isolationError;
      }
    }
  }

  /** Writes rows held in memory in one transaction; direct COPY first, else the deduplicating insert. */
  async function writeOnce(batch: BatchWrite, rows: readonly EventRow[]): Promise<Written> {
    return await database.begin(async (session) => {
      await checkBatchFence(session, batch);
      let written: Omit<Written, "gapsInserted"> = { inserted: 0, refused: [] };
      if (rows.length > 0) {
        written = await directCopy.tryWrite(session, { cluster: batch.cluster, rows })
          ? { inserted: rows.length, refused: [] }
          : await insertIsolating(session, batch, { rows });
      }
      return { ...written, gapsInserted: await finishBatch(session, batch) };
    });
  }

  /** Writes unique rows held in memory: partitions first, then one transaction. */
  async function writeRows(
    batch: BatchWrite,
    rows: readonly EventRow[],
    repeated: readonly EventRow[],
  ): Promise<BatchResult> {
    const days = toPartitionDays(rows.map((row) => row.createdAt));
    await partitions.ensure(days);
    let written: Written;
    try {
      written = await writeOnce(batch, rows);
    } catch (error) {
      if (toDatabaseErrorCode(error) !== NO_PARTITION_SQLSTATE || isRowRefusalError(error)) throw error;
      // A partition we had seen was dropped meanwhile (retention elsewhere): forget, recreate, retry once.
      partitions.forget(days);
      await partitions.ensure(days);
      written = await writeOnce(batch, rows);
    }
    return toBatchResult(written, rows.length, repeated);
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
      if (first === undefined) return await writeRows(batch, [], feed.repeated);
      await partitions.ensure(toPartitionDays(first.map((row) => row.createdAt)));
      try {
        const written = await database.begin(async (session) => {
          await checkBatchFence(session, batch);
          const stored = await directCopy.tryWrite(session, { cluster: batch.cluster, rows: first, feed })
            ? { inserted: feed.rows.length, refused: [] }
            : await insertIsolating(session, batch, { rows: feed.rows.slice(), feed });
          return { ...stored, gapsInserted: await finishBatch(session, batch) };
        });
        return toBatchResult(written, feed.rows.length, feed.repeated);
      } catch (error) {
        const isPartitionGone = toDatabaseErrorCode(error) === NO_PARTITION_SQLSTATE && !isRowRefusalError(error);
        if (feed.hasFailed || !(error instanceof PartitionsNeededError || isPartitionGone)) throw error;
        await feed.drain();
        if (isPartitionGone) partitions.forget(toPartitionDays(feed.rows.map((row) => row.createdAt)));
        return await writeRows(batch, feed.rows, feed.repeated);
      }
    } finally {
      feed.close();
    }
  }

  async function writeBatch(batch: BatchWrite): Promise<BatchResult> {
    if (isRowStream(batch.rows)) return await writeStream(batch, batch.rows);
    const { rows, repeated } = dedupeRows(batch.rows);
    return await writeRows(batch, rows, repeated);
  }

  return { writeBatch, partitions };
}
