/**
 * Jittered exponential backoff: how long the relay waits before it tries again (the wait itself is shared/delay.ts).
 */

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
