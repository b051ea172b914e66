/**
 * A FIFO queue bounded in bytes. A producer that would overfill it waits until the consumer has drained enough,
 * which is how the relay stops reading the watch when the handler falls behind.
 */

interface Slot<T> {
  item: T;
  bytes: number;
}

/**
 * Bounded FIFO. `push` resolves once the item is in; it waits while `bytes + item bytes > bytesMax`, except that an
 * item is always admitted into an empty queue (so one oversized item cannot block forever). One consumer.
 */
export class ByteQueue<T> {
  readonly bytesMax: number;
  #slots: Slot<T>[] = [];
  #head = 0;
  #bytes = 0;
  #spaceWaiters: (() => void)[] = [];
  #itemWaiters: (() => void)[] = [];

  constructor(options: { bytesMax: number }) {
    if (!(options.bytesMax > 0)) {
      throw new RangeError(`Cannot create ByteQueue: bytesMax ${options.bytesMax} is not positive`);
    }
    this.bytesMax = options.bytesMax;
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Items currently held. */
  get length(): number {
    return this.#slots.length - this.#head;
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
    this.#slots.push({ item, bytes });
    this.#bytes += bytes;
    wake(this.#itemWaiters);
  }

  /** Removes and returns the oldest item, or undefined when empty. Wakes a waiting producer. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const slot = this.#slots[this.#head]!;
    this.#slots[this.#head] = undefined as unknown as Slot<T>;
    this.#head++;
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
