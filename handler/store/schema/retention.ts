/**
 * Retention: drops whole daily partitions older than RETENTION_DAYS, at start and then every hour.
 */
import { describeError, type Logger } from "../../../shared/telemetry/log.ts";

/** What retention needs from the store. */
export interface RetentionStore {
  dropExpiredPartitions(now: Date): Promise<unknown>;
}

/** The store, the retention period and the schedule. */
export interface RetentionOptions {
  store: RetentionStore;
  /** 0 disables retention: nothing runs. */
  retentionDays: number;
  /** Time between runs; one hour when omitted. */
  intervalMs?: number;
  logger: Logger;
  /** Stops the schedule. */
  signal: AbortSignal;
  now?: () => Date;
}

/**
 * Runs retention now and then every `intervalMs` until `signal` aborts. A failed run is logged and retried at the
 * next interval: nothing is lost by running late, partitions are only dropped later.
 */
export function startRetention(options: RetentionOptions): void {
  if (options.retentionDays === 0 || options.signal.aborted) return;
  const now = options.now ?? (() => new Date());
  const run = async () => {
    try {
      await options.store.dropExpiredPartitions(now());
    } catch (error) {
      options.logger.warn("retention run failed; retrying at the next interval", { error: describeError(error) });
    }
  };
  void run();
  const timer = setInterval(() => void run(), options.intervalMs ?? 3_600_000);
  Deno.unrefTimer(timer);
  options.signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}
