/**
 * Waiting on a piece of work while a long-lived condition (a connection closing, a shutdown signal) may end the wait
 * first.
 *
 * `Promise.race([work, longLived])` leaves a reaction on `longLived` that holds the race's promise, and with it the
 * work's result, until `longLived` settles. For a connection or a watch that is every result of its lifetime: a
 * relay catching up a watch backlog ran out of heap this way. These helpers register each wait with the condition and
 * remove it as soon as the work settles.
 */

/** A failure that happens at most once and that any number of waits race against (see `race`). */
export class Tripwire {
  #isTripped = false;
  #reason: unknown;
  readonly #waits = new Set<(reason: unknown) => void>();

  get isTripped(): boolean {
    return this.#isTripped;
  }

  /** Fails every wait in progress, and every later one, with `reason`; a second trip changes nothing. */
  trip(reason: unknown): void {
    if (this.#isTripped) return;
    this.#isTripped = true;
    this.#reason = reason;
    for (const fail of this.#waits) fail(reason);
    this.#waits.clear();
  }

  /** Settles as `work` does, unless the wire trips first: then rejects with the trip's reason. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.#isTripped) {
      work.catch(() => {}); // Nobody waits for it any more; its own failure adds nothing to the trip's.
      return Promise.reject(this.#reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.#waits.add(reject);
      work.then(resolve, reject).finally(() => this.#waits.delete(reject));
    });
  }
}

/** Settles as `work` does, unless `signal` aborts first: then rejects with the signal's reason. */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // Nobody waits for it any more; the abort is the answer.
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
