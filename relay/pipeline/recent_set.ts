/**
 * A set that remembers only its most recent `entriesMax` keys: the relay's memory of which event versions it has
 * queued, so a relist does not send them again. Forgetting old keys is safe: the database dedupes.
 */
/** A remembered key: a number where one identifies the item (see toVersionKey), else text. */
export type RecentKey = number | string;

/**
 * The key an event version is remembered by. A resourceVersion is unique per write across the cluster (etcd's
 * revision), so it identifies the version on its own; as a number, when it is a canonical decimal integer, it costs a
 * few bytes in the set where the text "<uid>@<resourceVersion>" costs about a hundred, which at 50,000 keys is the
 * difference between a fixed and a growing share of the relay's memory. Versions are only compared for equality, and
 * a decimal that round-trips through Number equals another exactly when their texts are equal. Any other
 * resourceVersion (opaque to clients) is kept as text together with the uid.
 */
export function toVersionKey(uid: string, resourceVersion: string): RecentKey {
  const number = Number(resourceVersion);
  return Number.isSafeInteger(number) && String(number) === resourceVersion ? number : `${uid}@${resourceVersion}`;
}

export class RecentSet {
  readonly #keys = new Set<RecentKey>();
  /** Keys in insertion order, as a ring: the slot at #next holds the oldest key once the ring is full. */
  readonly #ring: (RecentKey | undefined)[];
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

  has(key: RecentKey): boolean {
    return this.#keys.has(key);
  }

  /**
   * Adds `key`, forgetting the oldest key when full. Evicting through the ring, not through the Set's iterator, keeps
   * each add constant-time: a Set walks past the holes its deletions leave before it finds its oldest entry.
   */
  add(key: RecentKey): void {
    if (this.#keys.has(key)) return;
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#keys.delete(oldest);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#keys.add(key);
  }
}
