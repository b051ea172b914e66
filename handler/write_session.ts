/**
 * The view of a PostgreSQL connection that the batch write path needs: one transaction at a time, statements,
 * `COPY ... FROM STDIN` and savepoints. The PostgreSQL adapter (`postgres_store.ts`) implements it over postgres.js;
 * the write path (`batch_writer.ts`, `direct_copy.ts`, `staging_insert.ts`) depends on these types alone.
 */
import type { Writable } from "node:stream";
import type { SqlRunner } from "./sql_runner.ts";

/** One open transaction (or a savepoint inside one). Statements are sent as soon as a method is called. */
export interface WriteSession extends SqlRunner {
  /** Runs one statement without result rows; returns the number of rows it affected. */
  execute(text: string): Promise<number>;
  /** Starts `COPY ... FROM STDIN` (the statement `text`) and returns the stream its data is written to. */
  copyFrom(text: string): Promise<Writable>;
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
