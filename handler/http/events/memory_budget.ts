/**
 * One budget for the memory that `POST /v1/events` requests in flight hold together (REQUESTS_MEMORY_BYTES_MAX), so
 * that the process stays inside its container's limit whatever clients send within the request limits.
 *
 * A request is charged as its decoded bytes arrive (BYTES_HELD_PER_DECODED_BYTE for each) and released when it ends:
 * it keeps every row until its transaction commits, because a direct COPY that meets a stored row, or a chunk on a day
 * without a partition, writes the rows pulled so far again (`batch_writer.ts`). Charges are per body chunk, never per
 * row.
 *
 * The oldest request in flight may always grow to the most one request can hold (`requestBytesMax`): that headroom is
 * kept free for it. Every other request shares the rest, and a charge that would eat into the headroom is refused
 * (OverBudgetError), so that request fails and is retried later. Nobody waits for memory, so no request can wait on
 * another that waits on it (two requests of one cluster also wait on each other's row locks), and the oldest request
 * always completes: retries make progress.
 */

/**
 * Bytes charged for each decoded byte of a body: the most its rows hold. Measured in heap snapshots of the handler, a
 * row keeps its event's text twice, as `raw` and as `message` (a large event is mostly its message), so rows hold up
 * to 2 bytes per decoded byte when the text is Latin-1, and up to 4 when a string holds one character beyond it (V8
 * then stores the whole string at two bytes a character): a line of 1 MiB with one `€` in its message holds 4 MiB.
 */
export const BYTES_HELD_PER_DECODED_BYTE = 4;

/**
 * True when `bytesMax` is at most half of V8's heap limit (`heap_size_limit`, set by `--max-old-space-size`): the
 * rows of requests in flight then leave V8 room to collect garbage without collecting all the time, or failing.
 */
export function isBudgetWithinHeap(bytesMax: number, heapSizeLimitBytes: number): boolean {
  return bytesMax <= heapSizeLimitBytes / 2;
}

/** A request's charge did not fit in the budget: it is not the oldest in flight, and the others hold the rest. */
export class OverBudgetError extends Error {
  override name = "OverBudgetError";
}

/** The bytes one request holds; create it with `MemoryBudget.open()` and release it when the request ends. */
export interface MemoryReservation {
  /** Bytes charged so far; 0 once released. */
  readonly bytes: number;
  /**
   * Adds `bytes`, or throws OverBudgetError (and adds nothing) when they do not fit. A charge after `release()` is not
   * counted: it comes from a read that was already under way when the request ended.
   */
  charge(bytes: number): void;
  /** Returns every byte to the budget; idempotent. */
  release(): void;
}

/** What a budget is sized by. */
export interface MemoryBudgetOptions {
  /** Bytes all requests in flight may hold together. */
  bytesMax: number;
  /** The most one request can be charged (BYTES_HELD_PER_DECODED_BYTE × DECODED_BODY_BYTES_MAX); at most `bytesMax`. */
  requestBytesMax: number;
}

interface Entry {
  bytes: number;
  isReleased: boolean;
}

/** The budget of REQUESTS_MEMORY_BYTES_MAX, for requests of at most DECODED_BODY_BYTES_MAX decoded bytes each. */
export function createMemoryBudget(
  limits: { requestsMemoryBytesMax: number; decodedBodyBytesMax: number },
): MemoryBudget {
  return new MemoryBudget({
    bytesMax: limits.requestsMemoryBytesMax,
    requestBytesMax: BYTES_HELD_PER_DECODED_BYTE * limits.decodedBodyBytesMax,
  });
}

/** The process's budget; one per app (per worker under `deno serve --parallel`). */
export class MemoryBudget {
  readonly bytesMax: number;
  readonly requestBytesMax: number;
  #usedBytes = 0;
  /** Open reservations in the order their requests arrived: the first is the oldest. */
  readonly #open = new Set<Entry>();

  /** Throws RangeError when one request could need more than the whole budget. */
  constructor(options: MemoryBudgetOptions) {
    if (options.requestBytesMax > options.bytesMax) {
      throw new RangeError(
        `Cannot size the memory budget: one request may need ${options.requestBytesMax} bytes, more than all ` +
          `${options.bytesMax}`,
      );
    }
    this.bytesMax = options.bytesMax;
    this.requestBytesMax = options.requestBytesMax;
  }

  /** Bytes held by open reservations. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /**
   * True when a new request would be refused at its first byte: others are in flight and hold all the memory outside
   * the oldest one's headroom. Then it is refused before its body is read.
   */
  get isExhausted(): boolean {
    return this.#open.size > 0 && this.#sharedFreeBytes() <= 0;
  }

  /** A reservation of 0 bytes for a new request, the youngest. */
  open(): MemoryReservation {
    const entry: Entry = { bytes: 0, isReleased: false };
    this.#open.add(entry);
    return {
      get bytes() {
        return entry.bytes;
      },
      charge: (bytes) => this.#charge(entry, bytes),
      release: () => this.#release(entry),
    };
  }

  #oldest(): Entry | undefined {
    return this.#open.values().next().value;
  }

  /** Bytes the requests other than the oldest may still take, its headroom kept free. */
  #sharedFreeBytes(): number {
    const oldest = this.#oldest();
    const headroom = oldest === undefined ? 0 : this.requestBytesMax - oldest.bytes;
    return this.bytesMax - this.#usedBytes - Math.max(0, headroom);
  }

  #charge(entry: Entry, bytes: number): void {
    if (entry.isReleased) return;
    // After the charge, the oldest request must still be able to grow to requestBytesMax. Its own charges pass as long
    // as it stays within that (the budget always keeps its headroom); anyone else's must fit beside the headroom.
    const oldest = this.#oldest()!;
    const oldestBytes = oldest === entry ? entry.bytes + bytes : oldest.bytes;
    const headroom = Math.max(0, this.requestBytesMax - oldestBytes);
    if (this.#usedBytes + bytes + headroom > this.bytesMax) {
      throw new OverBudgetError(
        `Cannot hold ${bytes} more bytes for the request: ${this.#usedBytes} of ${this.bytesMax} are in use, and ` +
          `${headroom} are kept for the oldest request in flight`,
      );
    }
    entry.bytes += bytes;
    this.#usedBytes += bytes;
  }

  #release(entry: Entry): void {
    if (entry.isReleased) return;
    entry.isReleased = true;
    this.#open.delete(entry);
    this.#usedBytes -= entry.bytes;
    entry.bytes = 0;
  }
}
