/**
 * A set that remembers only its most recent `entriesMax` keys: the relay's memory of which event versions it has
 * queued, so a relist does not send them again. Forgetting old keys is safe: the database dedupes.
 */
export class RecentSet {
  readonly #keys = new Set<string>();
  /** Keys in insertion order, as a ring: the slot at #next holds the oldest key once the ring is full. */
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(options: { entriesMax: number }) {
    if (!Number.isInteger(options.entriesMax) || options.entriesMax < 1) {
      throw new RangeError(`Cannot create RecentSet: entriesMax ${options.entriesMax} is not a positive integer`);
    }
    this.#ring = new Array(options.entriesMax);
  }

  get size(): number {
    return this.#keys.size;
  }

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /**
   * Adds `key`, forgetting the oldest key when full. Evicting through the ring, not through the Set's iterator, keeps
   * each add constant-time: a Set walks past the holes its deletions leave before it finds its oldest entry.
   */
  add(key: string): void {
    if (this.#keys.has(key)) return;
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#keys.delete(oldest);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#keys.add(key);
  }
}
