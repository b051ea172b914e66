/**
 * The one abortable wait: every retry, poll and pause in both components waits through `delay` (or `pause`, which
 * is `delay` for loops that check their signal themselves). Tests pass their own `Delay` instead of sleeping.
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

/**
 * Waits like `delay`, but resolves (instead of rejecting) when `signal` aborts: for loops that stop by checking
 * `signal.aborted` after each wait. Any other failure of the wait is rethrown.
 */
export async function pause(ms: number, signal: AbortSignal, wait: Delay = delay): Promise<void> {
  try {
    await wait(ms, signal);
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
