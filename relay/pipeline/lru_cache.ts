/**
 * A bounded cache with least-recently-used eviction and a time to live per entry.
 */

export interface LruCacheOptions {
  /** At most this many entries; the least recently used one is evicted to make room. */
  entriesMax: number;
  /** An entry older than this is treated as absent. */
  ttlMs: number;
  /** Milliseconds clock; `Date.now` unless a test passes its own. */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  expiresAtMs: number;
}

/**
 * Map-backed LRU with TTL. `get` refreshes recency but not the expiry; expired entries are removed when met.
 * Memory is bounded by `entriesMax`.
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #entriesMax: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: LruCacheOptions) {
    if (!Number.isInteger(options.entriesMax) || options.entriesMax < 1) {
      throw new RangeError(`Cannot create LruCache: entriesMax ${options.entriesMax} is not a positive integer`);
    }
    if (!(options.ttlMs > 0)) throw new RangeError(`Cannot create LruCache: ttlMs ${options.ttlMs} is not positive`);
    this.#entriesMax = options.entriesMax;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** Number of entries held, expired ones not yet removed included. */
  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key`, or undefined when absent or expired. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAtMs <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for `key` with a fresh TTL, evicting the least recently used entry when full. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.#entriesMax) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAtMs: this.#now() + this.#ttlMs });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }
}
