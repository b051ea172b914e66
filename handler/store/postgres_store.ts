/**
 * The PostgreSQL store: the only file of the handler server that imports postgres.js (`deno task tail` has its own
 * connection in tail/source.ts). It adapts the client to our own connection type
 * (`WriteConnection`, one postgres.js client per connection, each on its own TCP_NODELAY socket from
 * `no_delay_socket.ts`) and wires the parts: transactions through the pool (`connection_pool.ts`), batches through
 * the write path (`batch_writer.ts`: direct COPY or staging, streamed or whole), readiness
 * (`database_readiness.ts`), migrations and retention. Database failures that say "try again later" become
 * StoreUnavailableError here, and only here.
 */
import postgres from "postgres";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { Logger } from "../../shared/telemetry/log.ts";
import type { CheckpointResponse } from "../../shared/contract/protocol.ts";
import { type BatchResult, type BatchWrite, FencedError, type Store, StoreUnavailableError } from "./store.ts";
import { createBatchWriter } from "./write/batch_writer.ts";
import { isDatabaseReady, waitUntilDatabaseReachable } from "./database_readiness.ts";
import { createConnectionPool } from "./connection_pool.ts";
import { createNoDelaySocket, type SocketTarget } from "./no_delay_socket.ts";
import { dropPartitionsBefore, parsePartitionDay } from "./schema/partitions.ts";
import { applyMigrations } from "./schema/migrations.ts";
import { readRequiredColumns } from "./schema/required_columns.ts";
import type { NullableColumn } from "../../shared/contract/event_row.ts";
import { type EventsTableOrigin, readEventsTableOrigin } from "./schema/events_table_origin.ts";
import { resolveRetentionDays } from "./schema/retention.ts";
import type { SqlRunner, SqlValue } from "./schema/sql_runner.ts";
import { readCheckpoint as readClusterCheckpoint } from "./cluster_state.ts";
import { ConnectionClosedError, isTransientDatabaseError, toDatabaseErrorCode } from "./database_errors.ts";
import type { WriteConnection } from "./write_session.ts";
import { Tripwire } from "../../shared/race.ts";

/** What `migrate` found and decided. */
export interface SchemaState {
  eventsTableOrigin: EventsTableOrigin;
  /** Whole days kept; 0: retention is off. */
  retentionDays: number;
  /** Why: RETENTION_DAYS, or the default for the table's origin. */
  retentionSource: string;
}

export interface PostgresStoreOptions {
  /** postgres:// URL (built by the config loader from DATABASE_URL or DB_*). */
  url: string;
  /** Schema of all tables; default "public". */
  schema?: string;
  /** Write connections, so transactions at once; READ_CONNECTIONS_MAX more serve reads and readiness. */
  poolMax: number;
  /**
   * Whole days of events kept (RETENTION_DAYS); 0 disables dropping old partitions. Null when unset: the default on
   * a `k8s_events` the handler created, 0 on one it adopted (see resolveRetentionDays).
   */
  retentionDays: number | null;
  /** Longest wait for each lock while creating a partition, in seconds (PARTITION_LOCK_TIMEOUT_S). */
  partitionLockTimeoutS?: number;
  /** Seconds to wait for a connection to open. */
  connectTimeoutS: number;
  logger: Logger;
}

export interface PostgresStore extends Store {
  /** Polls until the database answers or timeoutS passes (then throws StoreUnavailableError). */
  waitUntilReachable(options: { timeoutS: number; signal?: AbortSignal }): Promise<void>;
  /**
   * Versioned migrations under an advisory lock, recorded in a table; safe when many replicas start at once. Returns
   * who made `k8s_events` and the retention that follows from it and from `retentionDays`.
   */
  migrate(): Promise<SchemaState>;
  /**
   * Drops whole daily partitions older than the retention `migrate` resolved (no-op when 0, or before `migrate`
   * unless retentionDays was given); returns the dropped table names.
   */
  dropExpiredPartitions(now: Date): Promise<string[]>;
  /**
   * Creates the partitions of the days (`YYYY-MM-DD`) that have none yet, so writes for them need no DDL. Throws
   * PartitionLockTimeoutError or StoreUnavailableError when the database cannot do it now.
   */
  ensurePartitions(days: readonly string[]): Promise<void>;
}

/**
 * Seconds `close()` lets queries still running finish before their connections are closed. After a complete drain
 * none are; after a missed shutdown deadline their transactions roll back and the relays send the batches again.
 */
export const POOL_CLOSE_TIMEOUT_S = 3;

/** Seconds a connection serves before it is retired when idle: 30 to 60 minutes, spread as postgres.js does. */
const CONNECTION_LIFETIME_S_MIN = 30 * 60;

/** Connections of the pool for reads outside transactions (checkpoints, readiness), beside the write pool. */
const READ_CONNECTIONS_MAX = 2;

/**
 * The parts of a postgres.js query this adapter relies on beyond its type declarations: the function that hands the
 * query to a connection (it runs one microtask after `execute()`, and synchronously writes the query's bytes when
 * the connection is idle), and the query's own `reject`.
 */
interface QueryInternals {
  handler: ((query: QueryInternals) => void) & { debug?: unknown };
  reject(error: Error): void;
}

/** What a PostgresConnection is opened with. */
export interface PostgresConnectionOptions {
  /** postgres:// URL. */
  url: string;
  /** Seconds to wait for the connection to open. */
  connectTimeoutS: number;
  /** Clock for its lifetime; Date.now when omitted. */
  now?: () => number;
}

/**
 * One postgres.js client with `max: 1` and a socket of its own (`createNoDelaySocket`), so this object knows exactly
 * when that connection's socket closed. postgres.js 3.4.9 crashes the process (TypeError on a null socket in its
 * `nextWrite`, porsager/postgres#1208) when a statement is handed to a connection whose socket has closed, and a
 * connection that hit it never reconnects. So each statement is checked here, synchronously in the call that hands
 * it to the connection, and refused with ConnectionClosedError once the socket closed; the client is never given a
 * second socket, so nothing queued inside it can run on a fresh connection outside its transaction. The pool
 * replaces a closed connection with a new client.
 */
class PostgresConnection implements WriteConnection {
  readonly expiresAtMs: number;
  readonly #sql: postgres.Sql;
  #socket: Socket | undefined;
  #hasOpenedSocket = false;
  #closedError: ConnectionClosedError | undefined;
  /**
   * Trips a macrotask after the socket closed; every statement races it, so none waits on a dead connection, while a
   * statement the client fails itself at the close keeps its own, more precise error (ECONNREFUSED, 57P01, ...).
   */
  readonly #closedLate = new Tripwire();

  constructor(options: PostgresConnectionOptions) {
    this.expiresAtMs = (options.now ?? Date.now)() + CONNECTION_LIFETIME_S_MIN * (1 + Math.random()) * 1000;
    // `socket` is a documented postgres.js option its type declarations lack, hence the separate object.
    const clientOptions = {
      max: 1,
      connect_timeout: options.connectTimeoutS,
      // Lifetimes are the pool's: postgres.js would end the connection between two statements of a transaction.
      max_lifetime: null,
      // No named prepared statements, not even the client's own type lookup at connect: behind a pooler in
      // transaction mode (PgBouncer) the server connection is shared, and each would stay on it for good.
      prepare: false,
      // NOTICEs here are only "relation already exists, skipping" from idempotent DDL.
      onnotice: () => {},
      onclose: () => void this.#markClosed("the connection closed"),
      socket: (target: SocketTarget) => this.#openSocket(target),
      connection: { application_name: "events-ingester" },
    };
    this.#sql = postgres(options.url, clientOptions);
  }

  get isOpen(): boolean {
    return this.#closedError === undefined && this.#socket?.destroyed !== true;
  }

  #openSocket(target: SocketTarget): Socket {
    if (this.#hasOpenedSocket) {
      // postgres.js reconnects to run statements queued behind a closed one; they belong to a dead transaction.
      throw this.#markClosed("its socket closed, and a connection is never reopened");
    }
    this.#hasOpenedSocket = true;
    try {
      this.#socket = createNoDelaySocket(target);
    } catch (error) {
      // Statements waiting on this connection fail with the reason itself (NotCapable: a permission is missing).
      this.#markClosed("its socket could not be opened", error as Error);
      throw error;
    }
    // Registered before postgres.js's own listener, so the flag is set before the client drops the socket.
    this.#socket.once("close", () => this.#markClosed("its socket closed"));
    return this.#socket;
  }

  #markClosed(reason: string, failure?: Error): ConnectionClosedError {
    if (this.#closedError === undefined) {
      this.#closedError = new ConnectionClosedError(`Cannot send the statement: ${reason}`, { cause: failure });
      const closedBy = failure ?? this.#closedError;
      setTimeout(() => this.#closedLate.trip(closedBy), 0);
    }
    return this.#closedError;
  }

  /** Hands `query` to the client only if the socket is still open at that very moment; settles on a close. */
  #send<T>(query: object, start: () => Promise<T>): Promise<T> {
    const internals = query as unknown as QueryInternals;
    const handOver = internals.handler;
    internals.handler = Object.assign((pending: QueryInternals) => {
      if (this.isOpen) handOver(pending);
      else pending.reject(this.#markClosed("its socket closed"));
    }, { debug: handOver.debug });
    return this.#closedLate.race(start());
  }

  async query<T extends Record<string, unknown>>(text: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const query = this.#sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
    return await this.#send(query, async () => await query) as unknown as T[];
  }

  async execute(text: string): Promise<number> {
    const query = this.#sql.unsafe(text);
    return (await this.#send(query, async () => await query)).count;
  }

  /**
   * Starts the COPY. When the server refuses the data after the stream ended, postgres.js rejects the query (whose
   * promise already resolved with the stream) and leaves the stream waiting for ever; that error is passed to the
   * stream here, so its completion fails with the database's own error (a row's not-null or check violation) instead
   * of only the next statement failing with "current transaction is aborted".
   */
  copyFrom(text: string): Promise<Writable> {
    const query = this.#sql.unsafe(text);
    const internals = query as unknown as QueryInternals;
    const reject = internals.reject;
    let writable: Writable | undefined;
    internals.reject = (error) => {
      // Emitted, not destroy(): postgres.js's destroy writes a CopyFail to a socket that may be gone by now. A stream
      // still in use was destroyed with the error by postgres.js itself; the one waiting after end() was not.
      if (writable !== undefined && !writable.destroyed && writable.listenerCount("error") > 0) {
        const stream = writable;
        writable = undefined;
        stream.emit("error", error);
      }
      reject(error);
    };
    return this.#send(query, async () => (writable = await query.writable()));
  }

  async close(options: { timeoutS: number }): Promise<void> {
    await this.#sql.end({ timeout: this.isOpen ? options.timeoutS : 0 });
  }
}

/** Creates one database connection for the pool (see PostgresConnection); no I/O until its first statement. */
export function createPostgresConnection(options: PostgresConnectionOptions): WriteConnection {
  return new PostgresConnection(options);
}

/**
 * Builds the store. No I/O happens until a method is used; connections open on demand, up to `poolMax` for
 * transactions and READ_CONNECTIONS_MAX for reads. A connection whose socket closed is replaced on the next use.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const schema = options.schema ?? "public";
  const logger = options.logger.with({ component: "store" });
  const connect = () => createPostgresConnection({ url: options.url, connectTimeoutS: options.connectTimeoutS });
  const pool = createConnectionPool({
    connect,
    connectionsMax: options.poolMax,
    closeTimeoutS: POOL_CLOSE_TIMEOUT_S,
    logger,
  });
  // Reads have connections of their own, so readiness answers while every write connection is busy.
  const readPool = createConnectionPool({
    connect,
    connectionsMax: READ_CONNECTIONS_MAX,
    closeTimeoutS: POOL_CLOSE_TIMEOUT_S,
    logger,
  });
  const reader: SqlRunner = { query: (text, params) => readPool.query(text, params) };
  const writer = createBatchWriter({
    database: pool,
    schema,
    logger,
    partitionLockTimeoutS: options.partitionLockTimeoutS,
  });
  let requiredColumns: ReadonlySet<NullableColumn> = new Set();
  /** The retention in force: RETENTION_DAYS, else resolved by `migrate` from the table's origin; 0 until then. */
  let retentionDays = options.retentionDays ?? 0;

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
      return await readClusterCheckpoint(reader, { schema, cluster });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable(`read checkpoint of cluster ${cluster}`, error);
      throw error;
    }
  }

  async function migrate(): Promise<SchemaState> {
    try {
      const [applied, origin] = await pool.begin(async (session) => {
        const applied = await applyMigrations(session, { schema, logger });
        return [applied, await readEventsTableOrigin(session, { schema }) ?? "adopted"] as const;
      });
      const required = await readRequiredColumns(reader, { schema });
      requiredColumns = new Set(required);
      logger.info("schema ready", { schema, applied: applied.join(","), requiredColumns: required.join(",") });
      const retention = resolveRetentionDays({ retentionDays: options.retentionDays, eventsTableOrigin: origin });
      retentionDays = retention.retentionDays;
      return { eventsTableOrigin: origin, retentionDays, retentionSource: retention.source };
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("migrate the schema", error);
      throw error;
    }
  }

  async function dropExpiredPartitions(now: Date): Promise<string[]> {
    if (retentionDays <= 0) return [];
    try {
      const dropped = await pool.begin((session) => dropPartitionsBefore(session, { schema, now, retentionDays }));
      writer.partitions.forget(dropped.map((name) => parsePartitionDay(name) ?? ""));
      if (dropped.length > 0) logger.info("dropped expired partitions", { count: dropped.length });
      return dropped;
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("drop expired partitions", error);
      throw error;
    }
  }

  async function ensurePartitions(days: readonly string[]): Promise<void> {
    try {
      await writer.partitions.ensure(days);
    } catch (error) {
      if (isTransientDatabaseError(error)) throw unavailable("create partitions ahead of need", error);
      throw error;
    }
  }

  return {
    writeBatch,
    readCheckpoint,
    requiredColumns: () => requiredColumns,
    isReady: () => isDatabaseReady(reader, { schema, timeoutS: options.connectTimeoutS, logger }),
    waitUntilReachable: (waitOptions) => waitUntilDatabaseReachable(reader, { ...waitOptions, logger }),
    migrate,
    dropExpiredPartitions,
    ensurePartitions,
    close: async () => {
      await Promise.all([pool.close(), readPool.close()]);
    },
  };
}
