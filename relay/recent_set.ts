/**
 * A set that remembers only its most recent `entriesMax` keys: the relay's memory of which event versions it has
 * queued, so a relist does not send them again. Forgetting old keys is safe: the database dedupes.
 */
export class RecentSet {
  readonly #keys = new Set<string>();
  readonly #entriesMax: number;

  constructor(options: { entriesMax: number }) {
    if (!Number.isInteger(options.entriesMax) || options.entriesMax < 1) {
      throw new RangeError(`Cannot create RecentSet: entriesMax ${options.entriesMax} is not a positive integer`);
    }
    this.#entriesMax = options.entriesMax;
  }

  get size(): number {
    return this.#keys.size;
  }

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Adds `key`, forgetting the oldest key when full. */
  add(key: string): void {
    if (this.#keys.has(key)) return;
    if (this.#keys.size >= this.#entriesMax) {
      const oldest = this.#keys.values().next();
      if (!oldest.done) this.#keys.delete(oldest.value);
    }
    this.#keys.add(key);
  }
}
