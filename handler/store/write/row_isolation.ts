/**
 * Finding the rows the database refuses in a batch that failed as a whole, so the rest is stored in the same
 * transaction: the failed rows are halved, each half written in a savepoint of its own, and only a half that fails
 * again is halved further, down to single rows. A batch without refused rows never comes here: its rows go through
 * the COPY paths once.
 *
 * Bound: for k refused rows among n (n ≥ 2), at most 2·k·⌈log2 n⌉ writes, each a savepoint, a COPY into the staging
 * table, an INSERT and a TRUNCATE: a part that failed is never tried again, at most k parts fail at each of the
 * ⌈log2 n⌉ halvings, and each failed part costs at most two writes for its halves (a part whose left half was
 * written whole holds the refused row in its right half, which is then halved without being tried whole). At most
 * about n·(log2 k + 3) rows are sent again. After `refusalsMax` refused rows the search stops with
 * RowRefusalsExceededError, so even a table that refuses every row costs at most 2·(refusalsMax + 1)·⌈log2 n⌉
 * writes. The bound assumes a row is refused for its own values, whatever rows are written with it.
 */
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { isRowRefusalError, toRowRefusalReason } from "../database_errors.ts";
import { type RefusedRow, RowRefusalsExceededError } from "../store.ts";

/** Rows the database may refuse in one batch before the batch is refused whole (ROW_REFUSALS_MAX). */
export const ROW_REFUSALS_MAX_DEFAULT = 100;

/** How the parts of a batch are written, and when to stop. */
export interface IsolateRowsOptions {
  /**
   * Writes the rows in a savepoint of its own and returns how many were inserted; when it throws, the savepoint is
   * rolled back and nothing of those rows is stored.
   */
  write(rows: readonly EventRow[]): Promise<number>;
  /** Refused rows after which the search stops with RowRefusalsExceededError. */
  refusalsMax: number;
}

/** What isolation stored and refused. */
export interface IsolatedRows {
  /** Rows inserted by the parts written. */
  inserted: number;
  /** Each refused row once, in batch order, with why (no row values). */
  refused: RefusedRow[];
  /** Writes made (the bound above applies to this count). */
  writes: number;
}

/**
 * Writes `rows`, which failed as a whole with `failure` (a row refusal: isRowRefusalError), in parts, and returns the
 * count inserted and the rows refused. A row is refused only after it failed when written alone, with the reason of
 * that failure. Rethrows any error of `write` that is not a row refusal (the caller's transaction then fails as
 * before), and throws RowRefusalsExceededError after `refusalsMax` refused rows.
 */
export async function isolateRefusedRows(
  rows: readonly EventRow[],
  failure: unknown,
  options: IsolateRowsOptions,
): Promise<IsolatedRows> {
  const result: IsolatedRows = { inserted: 0, refused: [], writes: 0 };

  /** Writes the part; returns the refusal when the database refused it (the part is then not stored). */
  async function tryWrite(part: readonly EventRow[]): Promise<unknown> {
    result.writes++;
    try {
      result.inserted += await options.write(part);
      return undefined;
    } catch (error) {
      if (!isRowRefusalError(error)) throw error;
      return error;
    }
  }

  function refuse(row: EventRow, refusal: unknown): void {
    result.refused.push({ row, reason: toRowRefusalReason(refusal) });
    if (result.refused.length > options.refusalsMax) {
      throw new RowRefusalsExceededError(
        `Cannot store the batch: the database refused more than ${options.refusalsMax} of its rows ` +
          `(ROW_REFUSALS_MAX); the last: ${toRowRefusalReason(refusal)}`,
      );
    }
  }

  /** Writes the part whole, else finds its refused rows; true when it was written whole. */
  async function writeOrIsolate(part: readonly EventRow[]): Promise<boolean> {
    const refusal = await tryWrite(part);
    if (refusal === undefined) return true;
    await isolate(part, refusal);
    return false;
  }

  /**
   * `part` holds a refused row: it failed written whole (`refusal`), or its left sibling was written whole after
   * their parent failed (`refusal` undefined: not tried alone yet).
   */
  async function isolate(part: readonly EventRow[], refusal: unknown): Promise<void> {
    if (part.length === 1) {
      const own = refusal ?? await tryWrite(part);
      if (own !== undefined) refuse(part[0]!, own);
      return;
    }
    const half = Math.ceil(part.length / 2);
    const right = part.slice(half);
    if (await writeOrIsolate(part.slice(0, half))) await isolate(right, undefined);
    else await writeOrIsolate(right);
  }

  await isolate(rows, failure);
  return result;
}
