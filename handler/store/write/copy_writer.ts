/**
 * Writing event rows into a running `COPY ... FROM STDIN` stream, as the PostgreSQL client hands it out, either all
 * at once (`startCopy`) or chunk by chunk as rows become ready (`openCopy`).
 */
import type { Writable } from "node:stream";
import { once } from "node:events";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { toCopyChunks } from "./copy_encoding.ts";
import { IN_FAILED_TRANSACTION_SQLSTATE, toDatabaseErrorCode } from "../database_errors.ts";

/** Rows are written in chunks of about this many bytes. */
const COPY_CHUNK_BYTES_MIN = 256 * 1024;

/** A COPY FROM STDIN in progress: rows are written as they come, then it is ended or aborted. */
export interface CopyStream {
  /**
   * Encodes and writes the rows, honouring backpressure. Throws RangeError (before anything of that chunk is
   * written) when a value holds a NUL character, or the stream's error; either way the COPY is aborted.
   */
  write(rows: readonly EventRow[]): Promise<void>;
  /**
   * Ends the COPY and returns its completion without waiting for it: postgres.js never settles it when the server
   * refuses the data after the stream ended, so the caller pipelines its next statement and waits for both; that
   * statement then fails with "current transaction is aborted", which ends the wait. Wrapped in an object so that
   * awaiting `end()` does not also await the completion.
   */
  end(): Promise<{ finished: Promise<void> }>;
  /** Aborts the COPY on the server (CopyFail), so the connection leaves copy mode and the transaction can roll back. */
  abort(error: Error): void;
}

/** Starts the COPY FROM STDIN that `openWritable` opens and returns it for writing chunk by chunk. */
export async function openCopy(openWritable: () => Promise<Writable>): Promise<CopyStream> {
  const writable = await openWritable();
  const finished = new Promise<void>((resolve, reject) => {
    writable.once("finish", resolve);
    writable.once("error", reject);
  });
  finished.catch(() => {}); // Observed through end() or a failing write; never left unhandled.
  let written: Promise<unknown> = Promise.resolve();
  let isAborted = false;

  function abort(error: Error): void {
    if (isAborted) return;
    isAborted = true;
    writable.destroy(error);
  }

  async function write(rows: readonly EventRow[]): Promise<void> {
    try {
      for (const chunk of toCopyChunks(rows, { chunkBytesMin: COPY_CHUNK_BYTES_MIN })) {
        let isFlushed = true;
        written = new Promise<void>((resolve, reject) => {
          isFlushed = writable.write(chunk, (error) => error ? reject(error) : resolve());
        });
        written.catch(() => {}); // Awaited below or by the next write; a failure surfaces there.
        if (!isFlushed) await Promise.race([once(writable, "drain"), finished]);
      }
    } catch (error) {
      abort(error as Error);
      throw error;
    }
  }

  async function end(): Promise<{ finished: Promise<void> }> {
    try {
      await Promise.race([written, finished]);
    } catch (error) {
      abort(error as Error);
      throw error;
    }
    writable.end();
    // postgres.js accepts the next statement only once the stream's final step ran, which Node streams schedule on
    // the tick after `end()` when every write has completed; hence the wait for the last write and one macrotask.
    await new Promise((resolve) => setTimeout(resolve, 0));
    return { finished };
  }

  return { write, end, abort };
}

/**
 * Streams all the rows' COPY text into the COPY FROM STDIN stream that `openWritable` starts and ends it; returns
 * the completion as `CopyStream.end` does. Throws RangeError (after aborting the COPY) when a value holds a NUL.
 */
export async function startCopy(
  openWritable: () => Promise<Writable>,
  rows: readonly EventRow[],
): Promise<{ finished: Promise<void> }> {
  const copy = await openCopy(openWritable);
  await copy.write(rows);
  return await copy.end();
}

/**
 * Waits for an ended COPY's completion (`finished`, from `CopyStream.end`) and the statement pipelined after it
 * (`next`); returns what `next` returns. When the server refused the COPY's data, `next` fails only with "current
 * transaction is aborted" and may report first; the COPY's own error (which names the constraint a row broke) is
 * thrown instead, once it arrives within a macrotask.
 */
export async function settleCopy<T>(finished: Promise<void>, next: Promise<T>): Promise<T> {
  try {
    const [, value] = await Promise.all([finished, next]);
    return value;
  } catch (error) {
    if (toDatabaseErrorCode(error) !== IN_FAILED_TRANSACTION_SQLSTATE) throw error;
    const copyError = await Promise.race([
      finished.then(() => undefined, (failure: unknown) => failure),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 0)),
    ]);
    throw copyError ?? error;
  }
}
