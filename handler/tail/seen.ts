/**
 * The event ids `deno task tail` has already dealt with, so that a row found twice (by its notification and by a
 * catch-up query) is printed once. Bounded by time and by count.
 */

export interface SeenEventsOptions {
  /** Ids remembered at most; past it the id remembered first is forgotten. */
  entriesMax: number;
}

interface Entry {
  createdAtMs: number;
  isPrinted: boolean;
}

/**
 * Event ids with the created_at of each and whether the row was printed. A row can be known without being printed:
 * it existed before the tail started, or it did not pass the filter.
 */
export class SeenEvents {
  readonly #entries = new Map<string, Entry>();
  readonly #entriesMax: number;

  constructor(options: SeenEventsOptions) {
    if (!Number.isSafeInteger(options.entriesMax) || options.entriesMax < 1) {
      throw new RangeError(`Cannot keep ${options.entriesMax} seen events: entriesMax must be a positive integer`);
    }
    this.#entriesMax = options.entriesMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** True when the id is remembered, printed or not. */
  has(eventId: string): boolean {
    return this.#entries.has(eventId);
  }

  /** True when the row with this id was printed. */
  isPrinted(eventId: string): boolean {
    return this.#entries.get(eventId)?.isPrinted ?? false;
  }

  /** Remembers an id; when over `entriesMax`, forgets the id remembered first. */
  add(eventId: string, createdAt: Date, options: { isPrinted: boolean }): void {
    this.#entries.delete(eventId);
    this.#entries.set(eventId, { createdAtMs: createdAt.getTime(), isPrinted: options.isPrinted });
    if (this.#entries.size > this.#entriesMax) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  /** Forgets every id whose created_at is before `horizon`: no later catch-up query reaches back that far. */
  prune(horizon: Date): void {
    const limit = horizon.getTime();
    for (const [eventId, entry] of this.#entries) {
      if (entry.createdAtMs < limit) this.#entries.delete(eventId);
    }
  }
}

/**
 * Where a catch-up query starts: `catchUpWindowMs` before the moment the connection was lost. Rows inserted while
 * disconnected carry their event's own time, which trails the insert by the pipeline's lag; the window covers
 * that lag.
 */
export function toCatchUpStart(disconnectedAt: Date, catchUpWindowMs: number): Date {
  return new Date(disconnectedAt.getTime() - catchUpWindowMs);
}
