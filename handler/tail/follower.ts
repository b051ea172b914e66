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

/** What one `followEvents` call knows across connections: its settings, the printed ids and where to catch up from. */
interface FollowState {
  options: FollowEventsOptions;
  now: () => Date;
  wait: Delay;
  reconnectDelaysMs: readonly number[];
  lookupBatchMax: number;
  pageRowsMax: number;
  queueEntriesMax: number;
  seen: SeenEvents;
  startedAt: Date;
  /** Rows before this are not printed by the first catch-up: they predate the start and --since. */
  printFrom: Date | null;
  /** When the last connection that had caught up was lost; null until the first catch-up completed. */
  disconnectedAt: Date | null;
  /** Connections lost in a row without catching up; picks the reconnect delay. */
  failures: number;
}

/** One connection's attempt: set once it is open and once its first catch-up completed. */
interface FollowSession {
  connection: TailConnection | null;
  isCaughtUp: boolean;
}

/** Notifications received on one connection and not looked up yet. */
interface NotifyQueue {
  keys: RowKey[];
  /** Resolved by each notification; replaced after the follower wakes. */
  wake: PromiseWithResolvers<void>;
  /** When the queue overflowed and was emptied; a catch-up query from there finds the forgotten rows. */
  overflowAt: Date | null;
}

/**
 * Follows new rows until `signal` aborts. Never throws for a database problem: it logs a warning, waits and
 * reconnects, then catches up. Rows are printed in (created_at, event_id) order within a catch-up and in commit
 * order while following.
 */
export async function followEvents(options: FollowEventsOptions): Promise<void> {
  const follow = createFollowState(options);
  while (!options.signal.aborted) {
    const session: FollowSession = { connection: null, isCaughtUp: false };
    try {
      await followConnection(follow, session);
    } catch (error) {
      if (options.signal.aborted) break;
      await recoverFromLoss(follow, session, error);
    } finally {
      await closeQuietly(session.connection, options.logger);
    }
  }
}

function createFollowState(options: FollowEventsOptions): FollowState {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  return {
    options,
    now,
    wait: options.delay ?? delay,
    reconnectDelaysMs: options.reconnectDelaysMs ?? FOLLOW_DEFAULTS.reconnectDelaysMs,
    lookupBatchMax: options.lookupBatchMax ?? FOLLOW_DEFAULTS.lookupBatchMax,
    pageRowsMax: options.pageRowsMax ?? FOLLOW_DEFAULTS.pageRowsMax,
    queueEntriesMax: options.queueEntriesMax ?? FOLLOW_DEFAULTS.queueEntriesMax,
    seen: new SeenEvents({ entriesMax: options.seenEntriesMax ?? FOLLOW_DEFAULTS.seenEntriesMax }),
    startedAt,
    printFrom: options.sinceMs === undefined ? null : new Date(startedAt.getTime() - options.sinceMs),
    disconnectedAt: null,
    failures: 0,
  };
}

/** Connects, catches up, then prints notified rows until the connection is lost (throws) or `signal` aborts. */
async function followConnection(follow: FollowState, session: FollowSession): Promise<void> {
  const { signal, logger, catchUpWindowMs } = follow.options;
  const queue: NotifyQueue = { keys: [], wake: Promise.withResolvers<void>(), overflowAt: null };
  const connection = await follow.options.source.connect({
    signal,
    onNotify: (payload) => queueNotification(follow, queue, payload),
  });
  session.connection = connection;
  // Every wait below races the connection's loss (and a read also reports it itself).
  const lost = new Tripwire();
  connection.lost.catch((error: unknown) => lost.trip(error));
  const isFirst = follow.disconnectedAt === null;
  const from = isFirst
    ? toCatchUpStart(follow.startedAt, Math.max(catchUpWindowMs, follow.options.sinceMs ?? 0))
    : toCatchUpStart(follow.disconnectedAt!, catchUpWindowMs);
  const printed = await lost.race(catchUp(follow, connection, { from, isFirst }));
  session.isCaughtUp = true;
  follow.failures = 0;
  logger.info("Following events", { caughtUp: printed, isReconnect: !isFirst });
  await printNotifiedRows(follow, { connection, queue, lost });
}

/** Queues the key a notification names; past queueEntriesMax forgets the queue and marks an overflow instead. */
function queueNotification(follow: FollowState, queue: NotifyQueue, payload: string): void {
  const key = parseRowKey(payload);
  if (key === undefined) return;
  if (queue.keys.length >= follow.queueEntriesMax) {
    // Too far behind: forget the queued keys and let a catch-up query find their rows instead.
    queue.keys.length = 0;
    queue.overflowAt ??= follow.now();
  } else {
    queue.keys.push(key);
  }
  queue.wake.resolve();
}

/** Waits for notifications and prints their rows, catching up by query after an overflow, until `signal` aborts. */
async function printNotifiedRows(
  follow: FollowState,
  live: { connection: TailConnection; queue: NotifyQueue; lost: Tripwire },
): Promise<void> {
  const { connection, queue, lost } = live;
  const { signal, logger, catchUpWindowMs } = follow.options;
  let prunedAtMs = follow.now().getTime();
  while (!signal.aborted) {
    if (queue.keys.length === 0 && queue.overflowAt === null) {
      await lost.race(raceSignal(queue.wake.promise, signal));
      queue.wake = Promise.withResolvers<void>();
      continue;
    }
    if (queue.overflowAt !== null) {
      const overflowFrom = toCatchUpStart(queue.overflowAt, catchUpWindowMs);
      queue.overflowAt = null;
      const caught = await lost.race(catchUp(follow, connection, { from: overflowFrom, isFirst: false }));
      logger.warn("Notifications overflowed; caught up by query", {
        caughtUp: caught,
        queueEntriesMax: follow.queueEntriesMax,
      });
      continue;
    }
    await printBatch(follow, { connection, queue, lost });
    if (follow.now().getTime() - prunedAtMs >= 10_000) {
      follow.seen.prune(toCatchUpStart(follow.now(), catchUpWindowMs));
      prunedAtMs = follow.now().getTime();
    }
  }
}

/** Looks up the next lookupBatchMax queued keys and prints the rows not printed yet, in notification order. */
async function printBatch(
  follow: FollowState,
  live: { connection: TailConnection; queue: NotifyQueue; lost: Tripwire },
): Promise<void> {
  const { seen } = follow;
  // A notification proves a commit after LISTEN: its row is printed even when the first catch-up knew it.
  const batch = live.queue.keys.splice(0, follow.lookupBatchMax).filter((key) => !seen.isPrinted(key.eventId));
  if (batch.length === 0) return;
  const rows = await live.lost.race(live.connection.readRowsByKeys(batch));
  const byId = new Map(rows.map((row) => [row.eventId, row]));
  for (const key of batch) {
    const row = byId.get(key.eventId);
    if (row !== undefined && !seen.isPrinted(row.eventId)) emit(follow, row, true);
  }
}

/** Reads rows from `from` on; prints those not known yet (and, on the first start, only from `printFrom`). */
async function catchUp(
  follow: FollowState,
  connection: TailConnection,
  start: { from: Date; isFirst: boolean },
): Promise<number> {
  const { signal, filter } = follow.options;
  let after: RowCursor | null = null;
  let printed = 0;
  while (!signal.aborted) {
    const rows = await connection.readRowsPage({ from: start.from, after, filter, limit: follow.pageRowsMax });
    for (const row of rows) {
      if (follow.seen.has(row.eventId)) continue;
      const isPrintable = !start.isFirst || (follow.printFrom !== null && row.createdAt >= follow.printFrom);
      if (emit(follow, row, isPrintable)) printed++;
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < follow.pageRowsMax) break;
    after = { createdAtKey: last.createdAtKey, eventId: last.eventId };
  }
  return printed;
}

/** Prints `row` unless filtered out or not printable, and remembers it either way. */
function emit(follow: FollowState, row: TailRow, isPrintable: boolean): boolean {
  const isPrinted = isPrintable && matchesTailFilter(row, follow.options.filter);
  follow.seen.add(row.eventId, row.createdAt, { isPrinted });
  if (isPrinted) follow.options.print(row);
  return isPrinted;
}

/** Logs the loss, closes the connection and waits the reconnect delay (or until `signal` aborts). */
async function recoverFromLoss(follow: FollowState, session: FollowSession, error: unknown): Promise<void> {
  const { logger, signal } = follow.options;
  const waitMs = toReconnectDelayMs(follow.reconnectDelaysMs, follow.failures);
  follow.failures++;
  // Only a connection that had caught up moves the catch-up start; otherwise the older loss still counts.
  if (session.isCaughtUp) follow.disconnectedAt = follow.now();
  logger.warn("Cannot follow events; reconnecting", {
    code: "TAIL_CONNECTION_LOST",
    error: describeError(error),
    retryInMs: waitMs,
  });
  await closeQuietly(session.connection, logger);
  session.connection = null;
  await pause(waitMs, signal, follow.wait);
}

/** The wait before the reconnect that follows `failures` failed ones: the delays in turn, then the last repeated. */
export function toReconnectDelayMs(reconnectDelaysMs: readonly number[], failures: number): number {
  return reconnectDelaysMs[Math.min(failures, reconnectDelaysMs.length - 1)] ?? 1000;
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
