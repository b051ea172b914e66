/**
 * The rows of one streamed batch as the store pulls them: deduplicated across chunks, and kept, so that a write
 * that has to start over (a stored row met by the direct COPY, a day without a partition) can replay them.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import { RowDeduper } from "./row_dedupe.ts";

/** Pulls row chunks from a source, dropping repeats within the batch. Not reusable: one feed per batch. */
export class RowFeed {
  readonly #iterator: AsyncIterator<readonly EventRow[]>;
  readonly #deduper = new RowDeduper();
  /** Every unique row pulled so far, in order. */
  readonly rows: EventRow[] = [];
  /** The chunk being read ahead while the caller writes the previous one; at most one. */
  #ahead: Promise<IteratorResult<readonly EventRow[]>> | undefined;
  #isDone = false;
  #hasFailed = false;

  constructor(source: AsyncIterable<readonly EventRow[]>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Rows dropped so far as repeats within the batch. */
  get repeats(): number {
    return this.#deduper.repeats;
  }

  /** True once the source has ended, so `rows` holds the whole batch. */
  get isDone(): boolean {
    return this.#isDone;
  }

  /** True when the source itself threw (a framing error, a limit, an abort), as opposed to the database. */
  get hasFailed(): boolean {
    return this.#hasFailed;
  }

  /**
   * The next chunk of new unique rows (never empty), or undefined at the end of the source. Rethrows what the
   * source throws; `hasFailed` tells such an error from one of the caller's. Starts reading the chunk after it
   * before returning, so the source parses while the caller waits on the database.
   */
  async next(): Promise<EventRow[] | undefined> {
    while (!this.#isDone) {
      const pending = this.#ahead ?? this.#pull();
      this.#ahead = undefined;
      let result: IteratorResult<readonly EventRow[]>;
      try {
        result = await pending;
      } catch (error) {
        this.#hasFailed = true;
        this.#isDone = true;
        throw error;
      }
      if (result.done) {
        this.#isDone = true;
        return undefined;
      }
      this.#ahead = this.#pull();
      const unique = this.#deduper.add(result.value);
      if (unique.length === 0) continue;
      for (const row of unique) this.rows.push(row);
      return unique;
    }
    return undefined;
  }

  #pull(): Promise<IteratorResult<readonly EventRow[]>> {
    const pending = this.#iterator.next();
    // A read ahead that fails is rethrown by next(); if nobody asks any more, close() has ended the source.
    pending.catch(() => {});
    return pending;
  }

  /** Pulls the rest of the source, so that `rows` holds the whole batch. */
  async drain(): Promise<void> {
    while (await this.next() !== undefined) {
      // Each chunk is appended to `rows` by next().
    }
  }

  /**
   * Tells the source to stop (cancelling the request body) when the write ended before reading it all. Does not
   * wait for a read ahead in progress: the source stops once that read returns.
   */
  close(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    this.#ahead = undefined;
    this.#iterator.return?.().catch(() => {
      // The source failed while stopping; nothing of the batch is stored, and the request already has its answer.
    });
  }
}
