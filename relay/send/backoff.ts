/**
 * Jittered exponential backoff and an abortable delay: the only ways the relay waits before trying again.
 */

/** Waits `ms` milliseconds; rejects with the signal's reason as soon as `signal` aborts. */
export type Delay = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real clock's delay. Rejects with `signal.reason` when aborted before or during the wait. */
export const delay: Delay = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export interface BackoffOptions {
  /** Upper bound of the first wait. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** Returns a number in [0, 1); `Math.random` unless a test passes its own. */
  random?: () => number;
}

/**
 * "Full jitter" backoff: a wait drawn uniformly from [0, min(maxMs, baseMs * 2^attempt)], with `attempt` counting
 * from 0. Spreads reconnecting relays and retries over time so they do not arrive in lockstep.
 */
export function toBackoffMs(attempt: number, options: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`Cannot compute backoff: attempt ${attempt} is not a non-negative integer`);
  }
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
