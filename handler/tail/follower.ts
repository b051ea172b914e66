/**
 * `deno task tail`'s loop: print recent rows (`--since`), then each new row as its NOTIFY arrives, and after a lost
 * connection reconnect by itself and catch up on the rows inserted meanwhile, printing every row once.
 *
 * Catch-up cannot ask "what was inserted after X" (k8s_events has no insertion-ordered column; created_at is the
 * event's own time and event_id is random), so it reads the rows whose created_at falls after the loss minus a
 * window covering the pipeline's lag, and skips the ids already printed.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { raceSignal, Tripwire } from "../../shared/race.ts";
import { type Delay, delay, pause } from "../../shared/delay.ts";
import { matchesTailFilter, type TailFilter } from "./filter.ts";
import { parseRowKey, type RowKey, type TailRow } from "./row.ts";
import { SeenEvents, toCatchUpStart } from "./seen.ts";

/** Where a page of rows ended: the next page starts after this (created_at, event_id). */
export interface RowCursor {
  createdAtKey: string;
  eventId: string;
}

/** One open connection that LISTENs on `events`. */
export interface TailConnection {
  /**
   * Rows with created_at at or after `from` (and after `after`, when given) that may match `filter`, ordered by
   * (created_at, event_id), at most `limit`.
   */
  readRowsPage(options: { from: Date; after: RowCursor | null; filter: TailFilter; limit: number }): Promise<TailRow[]>;
  /** The rows with these keys that exist in this database's k8s_events; missing ones are left out. */
  readRowsByKeys(keys: readonly RowKey[]): Promise<TailRow[]>;
  /** Rejects with the cause when the connection is lost; never resolves. */
  lost: Promise<never>;
  close(): Promise<void>;
}

/** Opens connections; the PostgreSQL adapter is `tail_source.ts`. */
export interface TailSource {
  /**
   * Connects and LISTENs on `events`; each notification payload goes to `onNotify`. Resolves once listening.
   * Throws when the database cannot be reached.
   */
  connect(options: { onNotify: (payload: string) => void; signal: AbortSignal }): Promise<TailConnection>;
}

export interface FollowEventsOptions {
  source: TailSource;
  filter: TailFilter;
  /** Before following, print the rows whose created_at is at most this long before the start. */
  sinceMs?: number;
  /** How far before a lost connection catch-up reaches back (the longest insert lag it covers). */
  catchUpWindowMs: number;
  /** Receives each row to print, once, in order. */
  print: (row: TailRow) => void;
  logger: Logger;
  /** Stops following; `followEvents` then resolves. */
  signal: AbortSignal;
  now?: () => Date;
  /** Waits between reconnect attempts; shared/delay.ts's `delay` unless a test passes its own. */
  delay?: Delay;
  /** Waits between reconnect attempts; the last one repeats. */
  reconnectDelaysMs?: readonly number[];
  /** Rows looked up per query for notifications. */
  lookupBatchMax?: number;
  /** Rows per catch-up page. */
  pageRowsMax?: number;
  /** Notifications waiting for lookup; past it they are dropped and a catch-up query finds their rows. */
  queueEntriesMax?: number;
  /** Printed ids remembered to skip repeats. */
  seenEntriesMax?: number;
}

/** Defaults of the optional bounds. */
const FOLLOW_DEFAULTS = {
  reconnectDelaysMs: [250, 500, 1000, 2000, 5000],
  lookupBatchMax: 500,
  pageRowsMax: 1000,
  queueEntriesMax: 100_000,
  seenEntriesMax: 1_000_000,
} as const;

/**
 * Follows new rows until `signal` aborts. Never throws for a database problem: it logs a warning, waits and
 * reconnects, then catches up. Rows are printed in (created_at, event_id) order within a catch-up and in commit
 * order while following.
 */
export async function followEvents(options: FollowEventsOptions): Promise<void> {
  const now = options.now ?? (() => new Date());
  const wait = options.delay ?? delay;
  const reconnectDelaysMs = options.reconnectDelaysMs ?? FOLLOW_DEFAULTS.reconnectDelaysMs;
  const lookupBatchMax = options.lookupBatchMax ?? FOLLOW_DEFAULTS.lookupBatchMax;
  const pageRowsMax = options.pageRowsMax ?? FOLLOW_DEFAULTS.pageRowsMax;
  const queueEntriesMax = options.queueEntriesMax ?? FOLLOW_DEFAULTS.queueEntriesMax;
  const { signal, logger, filter, catchUpWindowMs } = options;
  const seen = new SeenEvents({ entriesMax: options.seenEntriesMax ?? FOLLOW_DEFAULTS.seenEntriesMax });
  const startedAt = now();
  /** Rows before this are not printed by the first catch-up: they predate the start and --since. */
  const printFrom = options.sinceMs === undefined ? null : new Date(startedAt.getTime() - options.sinceMs);
  /** When the last connection that had caught up was lost; null until the first catch-up completed. */
  let disconnectedAt: Date | null = null;
  let failures = 0;

  /** Prints `row` unless already printed or filtered out, and remembers it. */
  const emit = (row: TailRow, isPrintable: boolean): boolean => {
    const isPrinted = isPrintable && matchesTailFilter(row, filter);
    seen.add(row.eventId, row.createdAt, { isPrinted });
    if (isPrinted) options.print(row);
    return isPrinted;
  };

  /** Reads rows from `from` on; prints those not known yet (and, on the first start, only from `printFrom`). */
  const catchUp = async (connection: TailConnection, from: Date, isFirst: boolean): Promise<number> => {
    let after: RowCursor | null = null;
    let printed = 0;
    while (!signal.aborted) {
      const rows = await connection.readRowsPage({ from, after, filter, limit: pageRowsMax });
      for (const row of rows) {
        if (seen.has(row.eventId)) continue;
        const isPrintable = !isFirst || (printFrom !== null && row.createdAt >= printFrom);
        if (emit(row, isPrintable)) printed++;
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < pageRowsMax) break;
      after = { createdAtKey: last.createdAtKey, eventId: last.eventId };
    }
    return printed;
  };

  while (!signal.aborted) {
    const queue: RowKey[] = [];
    let wake = Promise.withResolvers<void>();
    let overflowAt: Date | null = null;
    let connection: TailConnection | null = null;
    let isCaughtUp = false;
    try {
      connection = await options.source.connect({
        signal,
        onNotify: (payload) => {
          const key = parseRowKey(payload);
          if (key === undefined) return;
          if (queue.length >= queueEntriesMax) {
            // Too far behind: forget the queued keys and let a catch-up query find their rows instead.
            queue.length = 0;
            overflowAt ??= now();
          } else {
            queue.push(key);
          }
          wake.resolve();
        },
      });
      // Every wait below races the connection's loss (and a read also reports it itself).
      const lost = new Tripwire();
      connection.lost.catch((error: unknown) => lost.trip(error));
      const isFirst = disconnectedAt === null;
      const from = isFirst
        ? toCatchUpStart(startedAt, Math.max(catchUpWindowMs, options.sinceMs ?? 0))
        : toCatchUpStart(disconnectedAt!, catchUpWindowMs);
      const printed = await lost.race(catchUp(connection, from, isFirst));
      isCaughtUp = true;
      failures = 0;
      logger.info("Following events", { caughtUp: printed, isReconnect: !isFirst });
      let prunedAtMs = now().getTime();
      while (!signal.aborted) {
        if (queue.length === 0 && overflowAt === null) {
          await lost.race(raceSignal(wake.promise, signal));
          wake = Promise.withResolvers<void>();
          continue;
        }
        if (overflowAt !== null) {
          const overflowFrom = toCatchUpStart(overflowAt, catchUpWindowMs);
          overflowAt = null;
          const caught = await lost.race(catchUp(connection, overflowFrom, false));
          logger.warn("Notifications overflowed; caught up by query", { caughtUp: caught, queueEntriesMax });
          continue;
        }
        // A notification proves a commit after LISTEN: its row is printed even when the first catch-up knew it.
        const batch = queue.splice(0, lookupBatchMax).filter((key) => !seen.isPrinted(key.eventId));
        if (batch.length === 0) continue;
        const rows = await lost.race(connection.readRowsByKeys(batch));
        const byId = new Map(rows.map((row) => [row.eventId, row]));
        for (const key of batch) {
          const row = byId.get(key.eventId);
          if (row !== undefined && !seen.isPrinted(row.eventId)) emit(row, true);
        }
        if (now().getTime() - prunedAtMs >= 10_000) {
          seen.prune(toCatchUpStart(now(), catchUpWindowMs));
          prunedAtMs = now().getTime();
        }
      }
    } catch (error) {
      if (signal.aborted) break;
      const waitMs = reconnectDelaysMs[Math.min(failures, reconnectDelaysMs.length - 1)] ?? 1000;
      failures++;
      // Only a connection that had caught up moves the catch-up start; otherwise the older loss still counts.
      if (isCaughtUp) disconnectedAt = now();
      logger.warn("Cannot follow events; reconnecting", {
        code: "TAIL_CONNECTION_LOST",
        error: describeError(error),
        retryInMs: waitMs,
      });
      await closeQuietly(connection, logger);
      connection = null;
      await pause(waitMs, signal, wait);
    } finally {
      await closeQuietly(connection, logger);
    }
  }
}

async function closeQuietly(connection: TailConnection | null, logger: Logger): Promise<void> {
  if (connection === null) return;
  try {
    await connection.close();
  } catch (error) {
    // The connection is being dropped anyway; a failed goodbye changes nothing, so it is logged and left.
    logger.debug("Cannot close tail connection", { error: describeError(error) });
  }
}
