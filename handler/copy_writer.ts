/**
 * Writing event rows into a running `COPY ... FROM STDIN` stream, as the PostgreSQL client hands it out.
 */
import type { Writable } from "node:stream";
import { once } from "node:events";
import type { EventRow } from "../shared/event_row.ts";
import { toCopyChunks } from "./copy_encoding.ts";

/** Rows are written in chunks of about this many UTF-16 code units. */
const COPY_CHUNK_BYTES_MIN = 256 * 1024;

/**
 * Streams the rows' COPY text into the COPY FROM STDIN stream that `openWritable` starts, honouring backpressure,
 * and ends it. Returns the COPY's completion without waiting for it: postgres.js never settles it when the server
 * refuses the data after the stream ended, so the caller pipelines its next statement and waits for both; that
 * statement then fails with "current transaction is aborted", which ends the wait. postgres.js accepts the next
 * statement only once the stream's final step ran, which Node streams schedule on the tick after `end()` when every
 * write has completed; hence the wait for the last write and one macrotask. Throws RangeError (before anything is
 * written for that chunk) when a value holds a NUL character.
 */
export async function startCopy(
  openWritable: () => Promise<Writable>,
  rows: readonly EventRow[],
): Promise<{ finished: Promise<void> }> {
  const writable = await openWritable();
  const finished = new Promise<void>((resolve, reject) => {
    writable.once("finish", resolve);
    writable.once("error", reject);
  });
  finished.catch(() => {}); // Observed through the returned promise; a failure while writing is thrown below.
  let written: Promise<unknown> = Promise.resolve();
  try {
    for (const chunk of toCopyChunks(rows, { chunkBytesMin: COPY_CHUNK_BYTES_MIN })) {
      let isFlushed = true;
      written = new Promise<void>((resolve, reject) => {
        isFlushed = writable.write(chunk, (error) => error ? reject(error) : resolve());
      });
      if (!isFlushed) await Promise.race([once(writable, "drain"), finished]);
    }
    await Promise.race([written, finished]);
  } catch (error) {
    // Aborts the COPY on the server (CopyFail), so the connection leaves copy mode and the transaction can roll back.
    writable.destroy(error as Error);
    throw error;
  }
  writable.end();
  await new Promise((resolve) => setTimeout(resolve, 0));
  // Wrapped, so that awaiting startCopy does not also await the completion.
  return { finished };
}
