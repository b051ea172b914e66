/**
 * A FIFO queue bounded in bytes. A producer that would overfill it waits until the consumer has drained enough,
 * which is how the relay stops reading the watch when the handler falls behind. Optionally keyed, so that a queued
 * item can be replaced in place by a newer one with the same key (the relay's storm control).
 */

interface Slot<T> {
  item: T;
  bytes: number;
  /** The item's key while this slot is the newest queued one with it (and so in the index). */
  key: string | undefined;
}

export interface ByteQueueOptions<T> {
  bytesMax: number;
  /**
   * The key items are indexed by, undefined for items that are never replaced. Without it the queue keeps no index
   * and `replace` always answers false.
   */
  keyOf?: (item: T) => string | undefined;
}

/**
 * Bounded FIFO. `push` resolves once the item is in; it waits while `bytes + item bytes > bytesMax`, except that an
 * item is always admitted into an empty queue (so one oversized item cannot block forever). One consumer.
 *
 * With `keyOf`, the newest queued item of each key is indexed (one entry per queued slot at most, so the index is
 * bounded by the queue itself); an item leaves the index when it is shifted, so an item handed to the consumer is
 * never offered for replacement.
 */
export class ByteQueue<T> {
  readonly bytesMax: number;
  #slots: Slot<T>[] = [];
  #head = 0;
  #bytes = 0;
  #spaceWaiters: (() => void)[] = [];
  #itemWaiters: (() => void)[] = [];
  readonly #keyOf: ((item: T) => string | undefined) | undefined;
  readonly #newestByKey = new Map<string, Slot<T>>();

  constructor(options: ByteQueueOptions<T>) {
    if (!(options.bytesMax > 0)) {
      throw new RangeError(`Cannot create ByteQueue: bytesMax ${options.bytesMax} is not positive`);
    }
    this.bytesMax = options.bytesMax;
    this.#keyOf = options.keyOf;
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Items currently held. */
  get length(): number {
    return this.#slots.length - this.#head;
  }

  /** Keys in the index: at most `length`. */
  get indexedKeys(): number {
    return this.#newestByKey.size;
  }

  /** True when a push of `bytes` would have to wait. */
  isFullFor(bytes: number): boolean {
    return this.length > 0 && this.#bytes + bytes > this.bytesMax;
  }

  /** Adds `item`, waiting for room first. Rejects with the signal's reason when aborted while waiting. */
  async push(item: T, bytes: number, signal?: AbortSignal): Promise<void> {
    while (this.isFullFor(bytes)) {
      signal?.throwIfAborted();
      await waitFor(this.#spaceWaiters, signal);
    }
    const key = this.#keyOf?.(item);
    const slot: Slot<T> = { item, bytes, key };
    if (key !== undefined) {
      const previous = this.#newestByKey.get(key);
      if (previous !== undefined) previous.key = undefined;
      this.#newestByKey.set(key, slot);
    }
    this.#slots.push(slot);
    this.#bytes += bytes;
    wake(this.#itemWaiters);
  }

  /** The newest queued item with `key` (never one already shifted), or undefined. */
  queued(key: string): T | undefined {
    return this.#newestByKey.get(key)?.item;
  }

  /**
   * Puts `item` (of `bytes`) in the place of the newest queued item with the same key, in O(1): it keeps that
   * item's position, the queue's bytes change by the difference. Returns false, changing nothing, when the item has
   * no key, no item with its key is queued, or a larger item's extra bytes do not fit under `bytesMax`.
   */
  replace(item: T, bytes: number): boolean {
    const key = this.#keyOf?.(item);
    const slot = key === undefined ? undefined : this.#newestByKey.get(key);
    if (slot === undefined) return false;
    const difference = bytes - slot.bytes;
    if (difference > 0 && this.#bytes + difference > this.bytesMax) return false;
    slot.item = item;
    slot.bytes = bytes;
    this.#bytes += difference;
    if (difference < 0) wake(this.#spaceWaiters);
    return true;
  }

  /** Removes and returns the oldest item, or undefined when empty. Wakes a waiting producer. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const slot = this.#slots[this.#head]!;
    this.#slots[this.#head] = undefined as unknown as Slot<T>;
    this.#head++;
    if (slot.key !== undefined) this.#newestByKey.delete(slot.key);
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    this.#bytes -= slot.bytes;
    wake(this.#spaceWaiters);
    return slot.item;
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.#slots[this.#head]!.item;
  }

  /** The newest item without removing it. */
  peekLast(): T | undefined {
    return this.length === 0 ? undefined : this.#slots[this.#slots.length - 1]!.item;
  }

  /**
   * Resolves at once when a push of `bytes` would not wait, else after the next shift or shrinking replace (check
   * again: another producer may have taken the room). Rejects with the signal's reason when aborted.
   */
  async waitForSpace(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.isFullFor(bytes)) return;
    signal?.throwIfAborted();
    await waitFor(this.#spaceWaiters, signal);
  }

  /** Resolves when the queue holds at least one item (at once if it does). Rejects when `signal` aborts. */
  async waitForItem(signal?: AbortSignal): Promise<void> {
    while (this.length === 0) {
      signal?.throwIfAborted();
      await waitFor(this.#itemWaiters, signal);
    }
  }
}

function wake(waiters: (() => void)[]): void {
  const all = waiters.splice(0);
  for (const resolve of all) resolve();
}

function waitFor(waiters: (() => void)[], signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      const index = waiters.indexOf(done);
      if (index !== -1) waiters.splice(index, 1);
      reject(signal?.reason);
    };
    const done = () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    };
    waiters.push(done);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
