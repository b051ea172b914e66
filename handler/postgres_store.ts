/**
 * The PostgreSQL store: the only file that imports postgres.js. It adapts the client to our own session types
 * (`SqlRunner`, `WriteSession`) and wires the parts: connections through a TCP_NODELAY socket (`no_delay_socket.ts`),
 * batches through the write path (`batch_writer.ts`: direct COPY or staging, streamed or whole), readiness
 * (`database_readiness.ts`), migrations and retention. Database failures that say "try again later" become
 * StoreUnavailableError here, and only here.
 */
import postgres from "postgres";
import type { Logger } from "../shared/log.ts";
import type { CheckpointResponse } from "../shared/protocol.ts";
import { type BatchResult, type BatchWrite, FencedError, type Store, StoreUnavailableError } from "./store.ts";
import { createBatchWriter } from "./batch_writer.ts";
import { isDatabaseReady, waitUntilDatabaseReachable } from "./database_readiness.ts";
import { createNoDelaySocket, type SocketTarget } from "./no_delay_socket.ts";
import { dropPartitionsBefore, parsePartitionDay } from "./partitions.ts";
import { applyMigrations } from "./migrations.ts";
import type { SqlRunner, SqlValue } from "./sql_runner.ts";
import { readCheckpoint as readClusterCheckpoint } from "./cluster_state.ts";
import { isTransientDatabaseError, toDatabaseErrorCode } from "./database_errors.ts";
import type { WriteDatabase, WriteSession } from "./write_session.ts";

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

/**
 * Seconds `close()` lets queries still running finish before their connections are closed. After a complete drain
 * none are; after a missed shutdown deadline their transactions roll back and the relays send the batches again.
 */
export const POOL_CLOSE_TIMEOUT_S = 3;

type Sql = postgres.Sql;
type Transaction = postgres.TransactionSql;

function toRunner(sql: Sql | Transaction): SqlRunner {
  return {
    query: async <T extends Record<string, unknown>>(text: string, params: readonly SqlValue[] = []) =>
      await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]) as unknown as T[],
  };
}

/** A transaction (or savepoint) as the write path sees it. Each method sends its statement when called. */
function toWriteSession(tx: Transaction): WriteSession {
  return {
    ...toRunner(tx),
    execute: async (text) => (await tx.unsafe(text)).count,
    copyFrom: (text) => tx.unsafe(text).writable(),
    // postgres.js's savepoint scope rolls back to the savepoint on failure and keeps the error out of `tx`.
    savepoint: async <T>(body: (session: WriteSession) => Promise<T>) =>
      await tx.savepoint((savepoint) => body(toWriteSession(savepoint))) as T,
  };
}

/**
 * Builds the store. No I/O happens until a method is used; connections open on demand, up to `poolMax`.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const schema = options.schema ?? "public";
  const logger = options.logger.with({ component: "store" });
  // `socket` is a documented postgres.js option its type declarations lack, hence the separate object.
  const clientOptions = {
    max: options.poolMax,
    connect_timeout: options.connectTimeoutS,
    // NOTICEs here are only "relation already exists, skipping" from idempotent DDL.
    onnotice: () => {},
    socket: (target: SocketTarget) => createNoDelaySocket(target),
    connection: { application_name: "events-ingester" },
  };
  const sql: Sql = postgres(options.url, clientOptions);
  const database: WriteDatabase = {
    begin: async <T>(body: (session: WriteSession) => Promise<T>) =>
      await sql.begin((tx) => body(toWriteSession(tx))) as T,
  };
  const writer = createBatchWriter({ database, schema, logger });

  function unavailable(what: string, error: unknown): StoreUnavailableError {
    const code = toDatabaseErrorCode(error) ?? "UNKNOWN";
    return new StoreUnavailableError(`Cannot ${what}: the database is unavailable (${code})`, { cause: error });
  }

  async function writeBatch(batch: BatchWrite): Promise<BatchResult> {
    try {
      return await writer.writeBatch(batch);
    } catch (error) {
      if (error instanceof FencedError) throw error;
      if (isTransientDatabaseError(error)) throw unavailable(`write batch of cluster ${batch.cluster}`, error);
      throw error;
    }
  }

  async function readCheckpoint(cluster: string): Promise<CheckpointResponse> {
    try {
      return await readClusterCheckpoint(toRunner(sql), { schema, cluster });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable(`read checkpoint of cluster ${cluster}`, error);
      throw error;
    }
  }

  async function migrate(): Promise<void> {
    try {
      const applied = await sql.begin((tx) => applyMigrations(toRunner(tx), { schema, logger }));
      logger.info("schema ready", { schema, applied: applied.join(",") });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("migrate the schema", error);
      throw error;
    }
  }

  async function dropExpiredPartitions(now: Date): Promise<string[]> {
    if (options.retentionDays <= 0) return [];
    try {
      const dropped = await sql.begin((tx) =>
        dropPartitionsBefore(toRunner(tx), { schema, now, retentionDays: options.retentionDays })
      );
      writer.partitions.forget(dropped.map((name) => parsePartitionDay(name) ?? ""));
      if (dropped.length > 0) logger.info("dropped expired partitions", { count: dropped.length });
      return dropped;
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("drop expired partitions", error);
      throw error;
    }
  }

  return {
    writeBatch,
    readCheckpoint,
    isReady: () => isDatabaseReady(toRunner(sql), { schema, timeoutS: options.connectTimeoutS, logger }),
    waitUntilReachable: (waitOptions) => waitUntilDatabaseReachable(toRunner(sql), { ...waitOptions, logger }),
    migrate,
    dropExpiredPartitions,
    close: () => sql.end({ timeout: POOL_CLOSE_TIMEOUT_S }),
  };
}
