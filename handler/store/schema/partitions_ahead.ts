/**
 * Partitions ahead of need: the partitions of today and the next days exist before their first event arrives, made
 * at start and then every hour (as the Krateo stack's own job does), so writes rarely need DDL on their way. A day
 * nobody prepared (an event from long ago, or the job late) is still created on demand by the write itself.
 */
import { describeError, type Logger } from "../../../shared/telemetry/log.ts";
import { toDaysAhead } from "./partitions.ts";
import { startPeriodic } from "./periodic.ts";

/** What the schedule needs from the store. */
export interface PartitionsAheadStore {
  ensurePartitions(days: readonly string[]): Promise<void>;
}

/** The store, how many days, the schedule. */
export interface PartitionsAheadOptions {
  store: PartitionsAheadStore;
  /** Days kept ready, today first (PARTITIONS_AHEAD_DAYS); 0: nothing runs. */
  partitionsAheadDays: number;
  /** Time between runs; one hour when omitted. */
  intervalMs?: number;
  logger: Logger;
  /** Stops the schedule. */
  signal: AbortSignal;
  now?: () => Date;
}

/** Creates the partitions of the `partitionsAheadDays` days from today on that have none; returns those days. */
export async function ensurePartitionsAhead(
  options: { store: PartitionsAheadStore; partitionsAheadDays: number; now: Date },
): Promise<string[]> {
  const days = toDaysAhead(options.now, options.partitionsAheadDays);
  await options.store.ensurePartitions(days);
  return days;
}

/**
 * Runs ensurePartitionsAhead now and then every `intervalMs` until `signal` aborts. A failed run is logged as a
 * warning and retried at the next interval: the writes create a missing day themselves meanwhile.
 */
export function startPartitionsAhead(options: PartitionsAheadOptions): void {
  if (options.partitionsAheadDays === 0) return;
  const now = options.now ?? (() => new Date());
  startPeriodic({
    run: () => ensurePartitionsAhead({ ...options, now: now() }),
    intervalMs: options.intervalMs ?? 3_600_000,
    signal: options.signal,
    onFailure: (error) =>
      options.logger.warn("partitions ahead of need not made; retrying at the next interval", {
        error: describeError(error),
      }),
  });
}
