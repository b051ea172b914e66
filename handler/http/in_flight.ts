/**
 * Counts requests in flight so that shutdown can wait for them: the server closes its listener, and the store
 * its pool, only once they are done or the shutdown deadline has passed.
 */

export interface InFlight {
  /** Requests currently running. */
  readonly count: number;
  /** Runs `work` counted as one request in flight. */
  track<T>(work: () => Promise<T>): Promise<T>;
  /** Resolves true once no request is in flight, or false when `timeoutS` (if given) passes first. */
  waitUntilIdle(timeoutS?: number): Promise<boolean>;
}

/** A new, empty counter. */
export function createInFlight(): InFlight {
  let count = 0;
  const waiters = new Set<() => void>();
  return {
    get count() {
      return count;
    },
    async track(work) {
      count++;
      try {
        return await work();
      } finally {
        count--;
        if (count === 0) { for (const wake of waiters) wake(); }
      }
    },
    waitUntilIdle(timeoutS) {
      if (count === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (isIdle: boolean) => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(isIdle);
        };
        const wake = () => done(true);
        const timer = timeoutS === undefined ? undefined : setTimeout(() => done(false), timeoutS * 1000);
        waiters.add(wake);
      });
    },
  };
}
