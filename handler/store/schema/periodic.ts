/**
 * One schedule for the handler's background upkeep (retention, partitions ahead of need): a run at once, then one
 * every interval, until a signal aborts.
 */

/** What runs, how often, until when, and who hears about a failed run. */
export interface PeriodicOptions {
  run: () => Promise<unknown>;
  intervalMs: number;
  /** Stops the schedule; a run in progress finishes. */
  signal: AbortSignal;
  /** Called with the error of a failed run; the schedule goes on and the next run comes at the next interval. */
  onFailure: (error: unknown) => void;
}

/** Starts the schedule (nothing when `signal` is already aborted). Its timer does not keep the process alive. */
export function startPeriodic(options: PeriodicOptions): void {
  if (options.signal.aborted) return;
  const runOnce = async () => {
    try {
      await options.run();
    } catch (error) {
      options.onFailure(error);
    }
  };
  void runOnce();
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  Deno.unrefTimer(timer);
  options.signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}
