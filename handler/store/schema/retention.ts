/**
 * Retention: drops whole daily partitions older than RETENTION_DAYS, at start and then every hour. Off by default on
 * a `k8s_events` another schema owner made: its partitions are that owner's (the Krateo stack's job drops its own).
 */
import { describeError, type Logger } from "../../../shared/telemetry/log.ts";
import type { EventsTableOrigin } from "./events_table_origin.ts";
import { startPeriodic } from "./periodic.ts";

/** Whole days kept when RETENTION_DAYS is unset and the handler created `k8s_events`. */
export const RETENTION_DAYS_DEFAULT = 30;

/**
 * The retention in force: RETENTION_DAYS when set (`retentionDays` not null), else RETENTION_DAYS_DEFAULT on a table
 * the handler created and 0 (off) on one it adopted. `source` says which, for the start-up log line.
 */
export function resolveRetentionDays(
  options: { retentionDays: number | null; eventsTableOrigin: EventsTableOrigin },
): { retentionDays: number; source: string } {
  if (options.retentionDays !== null) return { retentionDays: options.retentionDays, source: "RETENTION_DAYS" };
  return options.eventsTableOrigin === "created"
    ? { retentionDays: RETENTION_DAYS_DEFAULT, source: "default for a k8s_events the handler created" }
    : {
      retentionDays: 0,
      source: "default for a k8s_events another owner created: its partitions are not dropped; set RETENTION_DAYS",
    };
}

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
  if (options.retentionDays === 0) return;
  const now = options.now ?? (() => new Date());
  startPeriodic({
    run: () => options.store.dropExpiredPartitions(now()),
    intervalMs: options.intervalMs ?? 3_600_000,
    signal: options.signal,
    onFailure: (error) =>
      options.logger.warn("retention run failed; retrying at the next interval", { error: describeError(error) }),
  });
}
