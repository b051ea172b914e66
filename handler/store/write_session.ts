/**
 * The view of a PostgreSQL connection that the batch write path needs: one transaction at a time, statements,
 * `COPY ... FROM STDIN` and savepoints. The PostgreSQL adapter (`postgres_store.ts`) implements `WriteConnection` over
 * postgres.js, the pool (`connection_pool.ts`) runs transactions on those connections, and the write path
 * (`batch_writer.ts`, `direct_copy.ts`, `staging_insert.ts`) depends on these types alone.
 */
import type { Writable } from "node:stream";
import type { SqlRunner } from "./schema/sql_runner.ts";

/** Statements on one connection. Each is sent as soon as its method is called. */
export interface WriteStatements extends SqlRunner {
  /** Runs one statement without result rows; returns the number of rows it affected. */
  execute(text: string): Promise<number>;
  /** Starts `COPY ... FROM STDIN` (the statement `text`) and returns the stream its data is written to. */
  copyFrom(text: string): Promise<Writable>;
}

/** One open transaction (or a savepoint inside one). Statements are sent as soon as a method is called. */
export interface WriteSession extends WriteStatements {
  /**
   * Runs `body` inside a savepoint: when it throws, the transaction rolls back to the savepoint, stays usable, and
   * the error is rethrown.
   */
  savepoint<T>(body: (session: WriteSession) => Promise<T>): Promise<T>;
}

/** The database as the write path sees it: a source of transactions. */
export interface WriteDatabase {
  /** Runs `body` in one transaction: commits when it resolves, rolls back and rethrows when it throws. */
  begin<T>(body: (session: WriteSession) => Promise<T>): Promise<T>;
}

/**
 * One database connection, used by one caller at a time. Once its socket has closed it is dead for good: every
 * statement then fails with ConnectionClosedError (code CONNECTION_CLOSED) without being sent, and the pool replaces
 * it with a new connection.
 */
export interface WriteConnection extends WriteStatements {
  /** False from the moment its socket closed (or failed to open); checked again before each statement is sent. */
  readonly isOpen: boolean;
  /** Epoch milliseconds after which the pool retires it (closing it when idle rather than reusing it). */
  readonly expiresAtMs: number;
  /**
   * Closes it: lets statements still running finish for up to `timeoutS` seconds, then destroys it. A connection
   * whose socket already closed is released at once.
   */
  close(options: { timeoutS: number }): Promise<void>;
}
