/**
 * A pool of single-connection clients that owns the transaction lifecycle: BEGIN, SAVEPOINT, ROLLBACK TO, COMMIT and
 * ROLLBACK are statements it sends itself on a `WriteConnection`. A connection whose socket closed is never used
 * again, not even for the ROLLBACK (the server has already rolled the transaction back): it is closed and replaced by
 * a new one on the next transaction, so the pool recovers as soon as the database is back.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { ConnectionClosedError, toDatabaseErrorCode } from "./database_errors.ts";
import type { SqlValue } from "./schema/sql_runner.ts";
import type { WriteConnection, WriteDatabase, WriteSession } from "./write_session.ts";

/** What the pool is built from. */
export interface ConnectionPoolOptions {
  /** Creates a connection; no I/O until its first statement. */
  connect: () => WriteConnection;
  /** Connections open at once, in use or idle. */
  connectionsMax: number;
  /** Seconds `close()` lets statements still running finish before it destroys their connections. */
  closeTimeoutS: number;
  logger: Logger;
  /** Clock for connection lifetimes; Date.now when omitted. */
  now?: () => number;
}

/** Transactions and single statements on pooled connections. */
export interface ConnectionPool extends WriteDatabase {
  /** Runs one statement outside any transaction and returns its rows. */
  query<T extends Record<string, unknown>>(text: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Closes every connection (see ConnectionPoolOptions.closeTimeoutS); later transactions fail with CONNECTION_ENDED. */
  close(): Promise<void>;
}

/** One transaction's statements on its connection; refuses statements once the transaction has ended. */
class TransactionSession implements WriteSession {
  #savepoints = 0;
  #hasEnded = false;
  readonly #connection: WriteConnection;

  constructor(connection: WriteConnection) {
    this.#connection = connection;
  }

  end(): void {
    this.#hasEnded = true;
  }

  #checkOpen(): void {
    if (this.#hasEnded) throw new Error("Cannot send the statement: its transaction has ended");
  }

  query<T extends Record<string, unknown>>(text: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.#checkOpen();
    return this.#connection.query<T>(text, params);
  }

  execute(text: string): Promise<number> {
    this.#checkOpen();
    return this.#connection.execute(text);
  }

  copyFrom(text: string): ReturnType<WriteConnection["copyFrom"]> {
    this.#checkOpen();
    return this.#connection.copyFrom(text);
  }

  async savepoint<T>(body: (session: WriteSession) => Promise<T>): Promise<T> {
    const name = `ingester_s${this.#savepoints++}`;
    await this.execute(`savepoint ${name}`);
    try {
      return await body(this);
    } catch (error) {
      // On a closed connection the server rolled everything back already; the caller sees the original error.
      if (this.#connection.isOpen) await this.execute(`rollback to savepoint ${name}`);
      throw error;
    }
  }
}

/** Builds the pool. No connection opens until the first transaction or statement. */
export function createConnectionPool(options: ConnectionPoolOptions): ConnectionPool {
  const now = options.now ?? Date.now;
  const all = new Set<WriteConnection>();
  const idle: WriteConnection[] = [];
  const waiters: { resolve: (connection: WriteConnection) => void; reject: (error: Error) => void }[] = [];
  let isClosed = false;

  function open(): WriteConnection {
    const connection = options.connect();
    all.add(connection);
    return connection;
  }

  function retire(connection: WriteConnection): void {
    all.delete(connection);
    connection.close({ timeoutS: connection.isOpen ? options.closeTimeoutS : 0 }).catch((error) => {
      // The connection is out of the pool either way; a failed goodbye costs nothing but this line.
      options.logger.warn("closing a database connection failed", { error: describeError(error) });
    });
  }

  function isReusable(connection: WriteConnection): boolean {
    return !isClosed && connection.isOpen && connection.expiresAtMs > now();
  }

  async function acquire(): Promise<WriteConnection> {
    if (isClosed) {
      throw new ConnectionClosedError("Cannot begin a transaction: the store is closed", { code: "CONNECTION_ENDED" });
    }
    for (let connection = idle.pop(); connection !== undefined; connection = idle.pop()) {
      if (isReusable(connection)) return connection;
      retire(connection);
    }
    if (all.size < options.connectionsMax) return open();
    return await new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  /** Hands the connection to the next waiter or back to the idle list; a dead or retired one is replaced. */
  function release(connection: WriteConnection, isClean: boolean): void {
    if (!isClean || !isReusable(connection)) {
      retire(connection);
      if (isClosed || waiters.length === 0) return;
      connection = open();
    }
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(connection);
    else idle.push(connection);
  }

  /** Ends a failed transaction; true when the connection is clean again (false: it must be replaced). */
  async function rollback(connection: WriteConnection): Promise<boolean> {
    if (!connection.isOpen) return false;
    try {
      await connection.execute("rollback");
      return true;
    } catch (error) {
      // The batch's own error is what the caller needs; this connection is replaced, which is all that is left to do.
      options.logger.warn("rollback failed; replacing the connection", { code: toDatabaseErrorCode(error) });
      return false;
    }
  }

  async function begin<T>(body: (session: WriteSession) => Promise<T>): Promise<T> {
    const connection = await acquire();
    const session = new TransactionSession(connection);
    let isClean = false;
    try {
      await connection.execute("begin");
      let result: T;
      try {
        result = await body(session);
      } catch (error) {
        session.end();
        isClean = await rollback(connection);
        throw error;
      }
      session.end();
      await connection.execute("commit");
      isClean = true;
      return result;
    } finally {
      session.end();
      release(connection, isClean);
    }
  }

  async function query<T extends Record<string, unknown>>(text: string, params?: readonly SqlValue[]): Promise<T[]> {
    const connection = await acquire();
    let isClean = false;
    try {
      const rows = await connection.query<T>(text, params);
      isClean = true;
      return rows;
    } catch (error) {
      // Outside a transaction a failed statement leaves a live connection idle and usable.
      isClean = connection.isOpen;
      throw error;
    } finally {
      release(connection, isClean);
    }
  }

  async function close(): Promise<void> {
    isClosed = true;
    idle.length = 0;
    for (const waiter of waiters.splice(0)) {
      waiter.reject(
        new ConnectionClosedError("Cannot begin a transaction: the store is closed", { code: "CONNECTION_ENDED" }),
      );
    }
    const closing = [...all].map((connection) => connection.close({ timeoutS: options.closeTimeoutS }));
    all.clear();
    await Promise.all(closing);
  }

  return { begin, query, close };
}
