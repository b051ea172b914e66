/**
 * The PostgreSQL store: the only file that imports postgres.js. Each batch is one transaction: fence check, the
 * rows (deduplicated within the batch), gap records, resume point. Rows go by COPY straight into the partitioned
 * `k8s_events` inside a savepoint when none is stored yet (the common case), else by COPY into a session-local
 * staging table and `INSERT ... SELECT ... ON CONFLICT DO NOTHING`. The table's trigger sends one NOTIFY per
 * inserted row either way. A streamed batch is fed to the COPY chunk by chunk while the request body is still being
 * read; when it meets a day without a known partition it rolls back and is written again whole (partitions cannot
 * be created from another connection while this transaction holds its lock on the table).
 */
import postgres from "postgres";
import { connect as connectSocket, type Socket } from "node:net";
import type { Logger } from "../shared/log.ts";
import { describeError } from "../shared/log.ts";
import type { CheckpointResponse } from "../shared/protocol.ts";
import type { EventRow } from "../shared/event_row.ts";
import { type BatchResult, type BatchWrite, FencedError, type Store, StoreUnavailableError } from "./store.ts";
import { COPY_COLUMNS } from "./copy_encoding.ts";
import { openCopy, startCopy } from "./copy_writer.ts";
import { dedupeRows } from "./row_dedupe.ts";
import { RowFeed } from "./row_feed.ts";
import {
  dropPartitionsBefore,
  ensurePartition,
  EVENTS_TABLE,
  parsePartitionDay,
  toPartitionDays,
  toUtcDay,
} from "./partitions.ts";
import { applyMigrations, LATEST_MIGRATION_VERSION, MIGRATIONS_TABLE } from "./migrations.ts";
import { quoteIdentifier, type SqlRunner, type SqlValue } from "./sql_runner.ts";
import { checkFence, insertGaps, readCheckpoint as readClusterCheckpoint, upsertCheckpoint } from "./cluster_state.ts";
import {
  isTransientDatabaseError,
  NO_PARTITION_SQLSTATE,
  PARTITION_OVERLAP_SQLSTATE,
  toDatabaseErrorCode,
} from "./database_errors.ts";

export interface PostgresStoreOptions {
  /** postgres:// URL (built by the config loader from DATABASE_URL or DB_*). */
  url: string;
  /** Schema of all tables; default "public". */
  schema?: string;
  /** Connections in the pool. */
  poolMax: number;
  /** Whole days of events kept; 0 disables dropping old partitions. */
  retentionDays: number;
  /** Seconds to wait for a connection to open. */
  connectTimeoutS: number;
  logger: Logger;
}

export interface PostgresStore extends Store {
  /** Polls until the database answers or timeoutS passes (then throws StoreUnavailableError). */
  waitUntilReachable(options: { timeoutS: number; signal?: AbortSignal }): Promise<void>;
  /** Versioned migrations under an advisory lock, recorded in a table; safe when many replicas start at once. */
  migrate(): Promise<void>;
  /** Drops whole daily partitions older than retentionDays (no-op when 0); returns the dropped table names. */
  dropExpiredPartitions(now: Date): Promise<string[]>;
}

type Sql = postgres.Sql;
type Transaction = postgres.TransactionSql;

const STAGING_TABLE = "ingester_staging";
const DAY_MS = 86_400_000;

/** Inside a streamed write: a chunk needs a day whose partition is not known; the write starts over whole. */
class PartitionsNeededError extends Error {
  override name = "PartitionsNeededError";
}

function isRowStream(
  rows: readonly EventRow[] | AsyncIterable<readonly EventRow[]>,
): rows is AsyncIterable<readonly EventRow[]> {
  return Symbol.asyncIterator in rows;
}
const POLL_INTERVAL_MS = 250;
/** Batches that take the deduplicating path straight away after a direct COPY met a stored row. */
const DIRECT_COPY_SKIPS_AFTER_FAILURE = 8;

/**
 * Opens a TCP socket with TCP_NODELAY: without it a transaction that ends with COPY stalls about 40 ms per commit
 * (Nagle against delayed ACK). The socket is returned while it connects (writes wait in its buffer), so a failed
 * connect reaches postgres.js as the socket's own `error` and `close` events, which is how it cleans up and retries.
 */
function createNoDelaySocket(options: { host: string[]; port: number[]; path?: string }): Socket {
  if (options.path) return connectSocket({ path: options.path });
  return connectSocket({ host: options.host[0] ?? "localhost", port: options.port[0] ?? 5432, noDelay: true });
}

function toRunner(sql: Sql | Transaction): SqlRunner {
  return {
    query: async <T extends Record<string, unknown>>(text: string, params: readonly SqlValue[] = []) =>
      await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]) as unknown as T[],
  };
}

function toBatchResult(counts: number[], unique: number, repeats: number): BatchResult {
  const [inserted = 0, gapsInserted = 0] = counts;
  return { inserted, duplicates: repeats + unique - inserted, gapsInserted };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Builds the store. No I/O happens until a method is used; connections open on demand, up to `poolMax`.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const schemaName = options.schema ?? "public";
  const schema = quoteIdentifier(schemaName);
  const logger = options.logger.with({ component: "store" });
  // `socket` is a documented postgres.js option its type declarations lack, hence the separate object.
  const clientOptions = {
    max: options.poolMax,
    connect_timeout: options.connectTimeoutS,
    // NOTICEs here are only "relation already exists, skipping" from idempotent DDL.
    onnotice: () => {},
    socket: (socketOptions: { host: string[]; port: number[]; path?: string }) => createNoDelaySocket(socketOptions),
    connection: { application_name: "events-ingester" },
  };
  const sql: Sql = postgres(options.url, clientOptions);
  const knownDays = new Set<string>();
  /** Per cluster: batches left that skip the direct COPY after one met a stored row. */
  const directCopySkips = new Map<string, number>();

  const copySql = `copy pg_temp.${STAGING_TABLE} (${COPY_COLUMNS.join(", ")}) from stdin`;
  const directCopySql = `copy ${schema}.${EVENTS_TABLE} (${COPY_COLUMNS.join(", ")}) from stdin`;
  const stagingSql = `create temp table if not exists ${STAGING_TABLE} on commit delete rows as` +
    ` select ${COPY_COLUMNS.join(", ")} from ${schema}.${EVENTS_TABLE} with no data`;
  const insertSql = `insert into ${schema}.${EVENTS_TABLE} (${COPY_COLUMNS.join(", ")})` +
    ` select ${COPY_COLUMNS.join(", ")} from pg_temp.${STAGING_TABLE} on conflict do nothing`;

  function unavailable(what: string, error: unknown): StoreUnavailableError {
    const code = toDatabaseErrorCode(error) ?? "UNKNOWN";
    return new StoreUnavailableError(`Cannot ${what}: the database is unavailable (${code})`, { cause: error });
  }

  async function ensurePartitions(days: readonly string[]): Promise<void> {
    for (const day of days) {
      if (knownDays.has(day)) continue;
      try {
        const isCreated = await sql.begin((tx) => ensurePartition(toRunner(tx), { schema: schemaName, day }));
        if (isCreated) logger.info("created partition", { day });
      } catch (error) {
        const code = toDatabaseErrorCode(error);
        if (code !== PARTITION_OVERLAP_SQLSTATE && code !== NO_PARTITION_SQLSTATE) throw error;
        // Another schema owner's partition covers the day (a wider range, or a default partition holding rows of
        // it): the rows go there, as that owner intended.
        logger.info("day covered by an existing partition", { day, code });
      }
      knownDays.add(day);
    }
  }

  /** True when the cluster's next batch is to skip the direct COPY (one did meet a stored row recently). */
  function takeDirectCopySkip(cluster: string): boolean {
    const skips = directCopySkips.get(cluster) ?? 0;
    if (skips === 0) return false;
    if (skips === 1) directCopySkips.delete(cluster);
    else directCopySkips.set(cluster, skips - 1);
    return true;
  }

  /** True when a row falls on a day whose partition this store has not ensured. */
  function hasUnknownDay(rows: readonly EventRow[]): boolean {
    let lastDay = Number.NaN;
    for (const row of rows) {
      const day = Math.floor(row.createdAt.getTime() / DAY_MS);
      if (day === lastDay) continue;
      lastDay = day;
      if (!knownDays.has(toUtcDay(row.createdAt))) return true;
    }
    return false;
  }

  /**
   * Fast path for batches of new rows: COPY straight into `k8s_events` inside a savepoint (its trigger announces
   * the rows), fed from `rows` and then from `feed` as its chunks arrive. Any database failure (a duplicate's unique
   * violation, most likely) rolls back to the savepoint and returns false, and the caller takes the deduplicating
   * path with the rows pulled so far. After a failure the next few batches skip the attempt, since replays and
   * relists come in runs. Errors of the feed and PartitionsNeededError are rethrown.
   */
  async function tryCopyDirect(
    tx: Transaction,
    cluster: string,
    rows: readonly EventRow[],
    feed?: RowFeed,
  ): Promise<boolean> {
    if (takeDirectCopySkip(cluster)) return false;
    try {
      // postgres.js's savepoint scope rolls back to the savepoint on failure and keeps the error out of `tx`.
      await tx.savepoint(async (savepoint) => {
        const copy = await openCopy(() => savepoint.unsafe(directCopySql).writable());
        try {
          await copy.write(rows);
          for (let chunk = await feed?.next(); chunk !== undefined; chunk = await feed?.next()) {
            if (hasUnknownDay(chunk)) throw new PartitionsNeededError("Cannot copy the chunk: a day needs a partition");
            await copy.write(chunk);
          }
        } catch (error) {
          copy.abort(error as Error);
          throw error;
        }
        const { finished } = await copy.end();
        await Promise.all([finished, savepoint.unsafe("select 1")]);
      });
      return true;
    } catch (error) {
      if (feed?.hasFailed || error instanceof PartitionsNeededError || isTransientDatabaseError(error)) throw error;
      // Expected for a batch holding rows already stored; the rows go through the deduplicating path instead.
      directCopySkips.set(cluster, DIRECT_COPY_SKIPS_AFTER_FAILURE);
      return false;
    }
  }

  /**
   * COPY into the staging table (`rows`, then the rest of `feed` as it arrives), then `INSERT ... SELECT ... ON
   * CONFLICT DO NOTHING`; returns rows inserted. Throws PartitionsNeededError before the insert when a streamed row
   * needs a day without a known partition.
   */
  async function insertDeduplicated(tx: Transaction, rows: readonly EventRow[], feed?: RowFeed): Promise<number> {
    // The staging table lives for the session and empties at each commit.
    await tx.unsafe(stagingSql);
    let finished: Promise<void>;
    if (feed === undefined) {
      ({ finished } = await startCopy(() => tx.unsafe(copySql).writable(), rows));
    } else {
      const copy = await openCopy(() => tx.unsafe(copySql).writable());
      try {
        await copy.write(rows);
        for (let chunk = await feed.next(); chunk !== undefined; chunk = await feed.next()) await copy.write(chunk);
        if (hasUnknownDay(feed.rows)) {
          throw new PartitionsNeededError("Cannot insert the rows: a day needs a partition");
        }
      } catch (error) {
        copy.abort(error as Error);
        throw error;
      }
      ({ finished } = await copy.end());
    }
    const [result] = await Promise.all([tx.unsafe(insertSql), finished]);
    return result.count;
  }

  /** Gap records and the resume point, the last statements of every batch's transaction. */
  async function finishBatch(tx: Transaction, batch: BatchWrite): Promise<number> {
    const runner = toRunner(tx);
    const [gapsInserted] = await Promise.all([
      insertGaps(runner, { schema: schemaName, gaps: batch.gaps }),
      batch.resumeVersion !== null
        ? upsertCheckpoint(runner, { schema: schemaName, cluster: batch.cluster, resumeVersion: batch.resumeVersion })
        : undefined,
    ]);
    return gapsInserted;
  }

  async function checkBatchFence(tx: Transaction, batch: BatchWrite): Promise<void> {
    if (batch.fence) await checkFence(toRunner(tx), { schema: schemaName, cluster: batch.cluster, fence: batch.fence });
  }

  async function writeOnce(batch: BatchWrite, rows: readonly EventRow[]): Promise<number[]> {
    return await sql.begin(async (tx) => {
      await checkBatchFence(tx, batch);
      let inserted = 0;
      if (rows.length > 0) {
        inserted = await tryCopyDirect(tx, batch.cluster, rows) ? rows.length : await insertDeduplicated(tx, rows);
      }
      return [inserted, await finishBatch(tx, batch)];
    });
  }

  /** Writes unique rows held in memory: partitions first, then one transaction. */
  async function writeRows(batch: BatchWrite, rows: readonly EventRow[], repeats: number): Promise<BatchResult> {
    const days = toPartitionDays(rows.map((row) => row.createdAt));
    await ensurePartitions(days);
    let counts: number[];
    try {
      counts = await writeOnce(batch, rows);
    } catch (error) {
      if (toDatabaseErrorCode(error) !== NO_PARTITION_SQLSTATE) throw error;
      // A partition we had seen was dropped meanwhile (retention elsewhere): forget, recreate, retry once.
      for (const day of days) knownDays.delete(day);
      await ensurePartitions(days);
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
      await ensurePartitions(toPartitionDays(first.map((row) => row.createdAt)));
      try {
        const counts = await sql.begin(async (tx) => {
          await checkBatchFence(tx, batch);
          const inserted = await tryCopyDirect(tx, batch.cluster, first, feed)
            ? feed.rows.length
            : await insertDeduplicated(tx, feed.rows.slice(), feed);
          return [inserted, await finishBatch(tx, batch)];
        });
        return toBatchResult(counts, feed.rows.length, feed.repeats);
      } catch (error) {
        const isPartitionGone = toDatabaseErrorCode(error) === NO_PARTITION_SQLSTATE;
        if (feed.hasFailed || !(error instanceof PartitionsNeededError || isPartitionGone)) throw error;
        await feed.drain();
        if (isPartitionGone) {
          for (const day of toPartitionDays(feed.rows.map((row) => row.createdAt))) knownDays.delete(day);
        }
        return await writeRows(batch, feed.rows, feed.repeats);
      }
    } finally {
      feed.close();
    }
  }

  async function writeBatch(batch: BatchWrite): Promise<BatchResult> {
    try {
      if (isRowStream(batch.rows)) return await writeStream(batch, batch.rows);
      const { rows, repeats } = dedupeRows(batch.rows);
      return await writeRows(batch, rows, repeats);
    } catch (error) {
      if (error instanceof FencedError) throw error;
      if (isTransientDatabaseError(error)) throw unavailable(`write batch of cluster ${batch.cluster}`, error);
      throw error;
    }
  }

  async function readCheckpoint(cluster: string): Promise<CheckpointResponse> {
    try {
      return await readClusterCheckpoint(toRunner(sql), { schema: schemaName, cluster });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable(`read checkpoint of cluster ${cluster}`, error);
      throw error;
    }
  }

  async function isReady(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const check = sql.unsafe(
        `select coalesce(max(version), 0)::int as version, to_regclass($1) is not null as has_events
           from ${schema}.${MIGRATIONS_TABLE}`,
        [`${schema}.${EVENTS_TABLE}`],
      );
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Cannot check readiness: no answer within ${options.connectTimeoutS} s`)),
          options.connectTimeoutS * 1000,
        );
      });
      const rows = await Promise.race([check, timeout]);
      return Number(rows[0]?.version) >= LATEST_MIGRATION_VERSION && rows[0]?.has_events === true;
    } catch (error) {
      // Not ready is the answer; the probe asks again, and the reason is logged for the operator.
      logger.warn("store not ready", { error: describeError(error), code: toDatabaseErrorCode(error) });
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async function waitUntilReachable(waitOptions: { timeoutS: number; signal?: AbortSignal }): Promise<void> {
    const deadline = Date.now() + waitOptions.timeoutS * 1000;
    let lastError: unknown;
    while (true) {
      waitOptions.signal?.throwIfAborted();
      try {
        await sql.unsafe("select 1");
        return;
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        // Expected while the database starts; the loop retries until the deadline.
        lastError = error;
        logger.debug("database not reachable yet", { code: toDatabaseErrorCode(error) });
      }
      if (Date.now() + POLL_INTERVAL_MS > deadline) {
        throw new StoreUnavailableError(
          `Cannot reach the database: no answer within ${waitOptions.timeoutS} s` +
            ` (${toDatabaseErrorCode(lastError) ?? "UNKNOWN"})`,
          { cause: lastError },
        );
      }
      await sleep(POLL_INTERVAL_MS, waitOptions.signal);
    }
  }

  async function migrate(): Promise<void> {
    try {
      const applied = await sql.begin((tx) => applyMigrations(toRunner(tx), { schema: schemaName, logger }));
      logger.info("schema ready", { schema: schemaName, applied: applied.join(",") });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("migrate the schema", error);
      throw error;
    }
  }

  async function dropExpiredPartitions(now: Date): Promise<string[]> {
    if (options.retentionDays <= 0) return [];
    try {
      const dropped = await sql.begin((tx) =>
        dropPartitionsBefore(toRunner(tx), { schema: schemaName, now, retentionDays: options.retentionDays })
      );
      for (const name of dropped) knownDays.delete(parsePartitionDay(name) ?? "");
      if (dropped.length > 0) logger.info("dropped expired partitions", { count: dropped.length });
      return dropped;
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("drop expired partitions", error);
      throw error;
    }
  }

  async function close(): Promise<void> {
    await sql.end({ timeout: 5 });
  }

  return { writeBatch, readCheckpoint, isReady, close, waitUntilReachable, migrate, dropExpiredPartitions };
}
