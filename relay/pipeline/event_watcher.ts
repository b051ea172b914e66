/**
 * The leader's watch loop: resume from the handler's checkpoint, or list (paged) and watch from the list's
 * version; reconnect with jittered backoff after every failure, forever; after 410 Gone relist and queue a gap
 * record. Each event version is queued once; MODIFIED is a new occurrence; DELETED is not sent. Queueing waits
 * while the queue is full, which stops reading the stream, unless storm control can merge the version into a queued
 * older version of the same event (relay/storm_control.ts).
 */
import type { ObjectRef } from "../../shared/contract/event_view.ts";
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { RECORD_VERSION } from "../../shared/contract/records.ts";
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import { toBackoffMs } from "../../shared/backoff.ts";
import type { ByteQueue } from "./byte_queue.ts";
import { type KubeApi, KubeApiError, type KubeObject } from "../kube/kube_api.ts";
import type { RelayMetrics } from "../metrics.ts";
import { type EventItem, type QueueItem, SMALL_ITEM_BYTES } from "./queue_item.ts";
import { toUtf8Length } from "../../shared/contract/utf8.ts";
import { RecentSet, toVersionKey } from "./recent_set.ts";
import { queueEventItem } from "./storm_control.ts";

export interface EventWatcherOptions {
  kube: Pick<KubeApi, "listEvents" | "watchEvents">;
  /** Built with `toStormKey` when storm control is on; event versions then may replace queued older ones. */
  queue: ByteQueue<QueueItem>;
  cluster: string;
  /** Empty: all namespaces. One: that namespace's endpoints. More: the cluster-wide watch, filtered here. */
  namespaces: string[];
  /** The handler's stored resume point, null when the cluster never wrote. */
  readResumeVersion: (signal: AbortSignal) => Promise<string | null>;
  /** Called for every event and bookmark the watch delivers (readiness). */
  onActivity: () => void;
  /**
   * Called with the error when the API server refuses to list or watch events (401 or 403: RBAC lacks a verb), and
   * with undefined once a list or watch succeeds again (readiness).
   */
  onRefused?: (error: KubeApiError | undefined) => void;
  metrics: Pick<
    RelayMetrics,
    | "watchReconnects"
    | "relists"
    | "bookmarks"
    | "eventsReceived"
    | "eventsDispatched"
    | "eventsDropped"
    | "gapRecords"
    | "versionsReplaced"
  >;
  logger: Logger;
  listPageLimit?: number;
  watchTimeoutS?: number;
  /** The watch is given up as dead when no byte arrives for this long while the relay waits for one. */
  watchIdleTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs: number;
  recentVersionsMax?: number;
  now?: () => number;
  delay?: Delay;
  random?: () => number;
}

/** What every step of the loop shares. */
interface WatchContext {
  options: EventWatcherOptions;
  signal: AbortSignal;
  now: () => number;
  delay: Delay;
  /** Event versions queued lately, so that a version seen again (a relist, a reconnect) is not sent twice. */
  recent: RecentSet;
  /** The one namespace watched through its own endpoints, or undefined for the cluster-wide watch. */
  scope: string | undefined;
  /** The namespaces kept from the cluster-wide watch, or undefined for all. */
  wanted: Set<string> | undefined;
}

/** Where the loop stands between rounds. */
interface WatchState {
  /** The watch position: the last resourceVersion delivered (or listed); null before the first list. */
  position: string | null;
  needsList: boolean;
  /** Set after 410 Gone: the position the lost window started from, for the gap record of the next list. */
  gapFrom: string | null | undefined;
  /** Failed rounds in a row, for the backoff. */
  attempt: number;
  /** The message of the refusal in force (logged once as an error, not at every retry); undefined when allowed. */
  refusal: string | undefined;
}

/** Runs the watch loop until `signal` aborts; resolves then. Never gives up on its own. */
export async function runEventWatcher(options: EventWatcherOptions, signal: AbortSignal): Promise<void> {
  const context = createWatchContext(options, signal);
  const start = await readStartPosition(context);
  if (start === undefined) return;
  const state: WatchState = {
    position: start,
    needsList: start === null,
    gapFrom: undefined,
    attempt: 0,
    refusal: undefined,
  };
  options.logger.info("watch starting", { resumeVersion: start ?? "(none: list first)" });
  while (!signal.aborted) {
    if (!await runWatchRound(context, state)) return;
    options.metrics.watchReconnects.add(1);
  }
}

function createWatchContext(options: EventWatcherOptions, signal: AbortSignal): WatchContext {
  const { namespaces } = options;
  return {
    options,
    signal,
    now: options.now ?? Date.now,
    delay: options.delay ?? realDelay,
    recent: new RecentSet({ entriesMax: options.recentVersionsMax ?? 50_000 }),
    scope: namespaces.length === 1 ? namespaces[0] : undefined,
    wanted: namespaces.length > 1 ? new Set(namespaces) : undefined,
  };
}

/** Resume or list: the handler's stored resume point, null when there is none; undefined when `signal` aborted. */
async function readStartPosition(context: WatchContext): Promise<string | null | undefined> {
  try {
    return await context.options.readResumeVersion(context.signal);
  } catch (error) {
    if (context.signal.aborted) return undefined;
    throw error;
  }
}

/**
 * One round: lists first when needed, watches one stream to its end, then backs off if the round delivered nothing.
 * A failure is handled by `recoverFromFailure`. Returns false when `signal` aborted (the loop ends).
 */
async function runWatchRound(context: WatchContext, state: WatchState): Promise<boolean> {
  const delivered = { count: 0 };
  try {
    if (state.needsList) {
      state.position = await listAll(context, state.gapFrom);
      noteAllowed(context, state);
      state.needsList = false;
      state.gapFrom = undefined;
    }
    await watchStream(context, state, delivered);
    if (context.signal.aborted) return false;
    state.attempt = delivered.count > 0 ? 0 : state.attempt + 1;
    if (state.attempt > 0) await context.delay(toWatchBackoffMs(context, state.attempt - 1), context.signal);
    return true;
  } catch (error) {
    if (context.signal.aborted) return false;
    return await recoverFromFailure(context, state, { error, delivered: delivered.count });
  }
}

/**
 * After 410 Gone: relist next round, with a gap from the last position (at once the first time; a 410 again before
 * anything was delivered backs off like any failure). After any other failure: back off, then reconnect from the
 * last position. Returns false when `signal` aborted during the wait.
 */
async function recoverFromFailure(
  context: WatchContext,
  state: WatchState,
  failure: { error: unknown; delivered: number },
): Promise<boolean> {
  const { error, delivered } = failure;
  if (error instanceof KubeApiError && error.status === 410) {
    // A 410 while listing (an expired continue token) keeps the gap already being closed, or none.
    if (!state.needsList) state.gapFrom = state.position;
    state.needsList = true;
    state.attempt = delivered > 0 ? 0 : state.attempt + 1;
    return state.attempt > 1 ? await waitBeforeRetry(context, state.attempt - 2) : true;
  }
  state.attempt = delivered > 0 ? 1 : state.attempt + 1;
  if (error instanceof KubeApiError && (error.status === 401 || error.status === 403)) {
    noteRefused(context, state, error);
  } else {
    context.options.logger.warn("watch failed; reconnecting", { error: describeError(error), attempt: state.attempt });
  }
  return await waitBeforeRetry(context, state.attempt - 1);
}

/** A refusal (RBAC lacks list or watch on events) is one error line when it starts or changes, not one per retry. */
function noteRefused(context: WatchContext, state: WatchState, error: KubeApiError): void {
  if (state.refusal !== error.message) {
    context.options.logger.error("Cannot collect events: the API server refuses to list or watch them; retrying", {
      error: describeError(error),
      hint: "grant list and watch on events (deploy/base/relay/clusterrole.yaml)",
    });
  }
  state.refusal = error.message;
  context.options.onRefused?.(error);
}

/** A list or watch went through: a refusal in force is over. */
function noteAllowed(context: WatchContext, state: WatchState): void {
  if (state.refusal === undefined) return;
  state.refusal = undefined;
  context.options.logger.info("the API server lets the relay list and watch events again");
  context.options.onRefused?.(undefined);
}

/** Waits the backoff of `attempt`; false when `signal` aborted meanwhile. */
async function waitBeforeRetry(context: WatchContext, attempt: number): Promise<boolean> {
  try {
    await context.delay(toWatchBackoffMs(context, attempt), context.signal);
    return true;
  } catch (error) {
    if (context.signal.aborted) return false;
    throw error;
  }
}

function toWatchBackoffMs(context: WatchContext, attempt: number): number {
  const { options } = context;
  return toBackoffMs(attempt, {
    baseMs: options.backoffBaseMs ?? 200,
    maxMs: options.backoffMaxMs,
    random: options.random,
  });
}

/** Watches from `state.position`, queueing every notification and moving the position with it. */
async function watchStream(context: WatchContext, state: WatchState, delivered: { count: number }): Promise<void> {
  const { options, signal } = context;
  const stream = options.kube.watchEvents({
    namespace: context.scope,
    resourceVersion: state.position!,
    timeoutS: jitterTimeoutS(options.watchTimeoutS ?? 300, options.random),
    idleTimeoutMs: options.watchIdleTimeoutMs ?? 330_000,
    signal,
  });
  for await (const notification of stream) {
    if (signal.aborted) return;
    delivered.count++;
    if (delivered.count === 1) noteAllowed(context, state);
    options.onActivity();
    if (notification.type === "BOOKMARK") {
      options.metrics.bookmarks.add(1);
      await pushMark(context, notification.resourceVersion);
    } else if (notification.type === "DELETED") {
      await pushMark(context, notification.resourceVersion);
    } else await pushEvent(context, notification.object, notification.resourceVersion);
    state.position = notification.resourceVersion;
  }
}

/** Lists every page; queues a gap record first when `gapFrom` is set. Returns the list's resourceVersion. */
async function listAll(context: WatchContext, gapFrom: string | null | undefined): Promise<string> {
  const { options } = context;
  options.metrics.relists.add(1);
  let continueToken: string | undefined;
  let listVersion: string | undefined;
  let count = 0;
  do {
    const page = await readListPage(context, continueToken);
    if (listVersion === undefined) {
      listVersion = page.resourceVersion;
      if (gapFrom !== undefined) await pushGap(context, { from: gapFrom, to: listVersion });
    }
    for (const item of page.items) await queueItem(context, item);
    options.onActivity();
    count += page.count;
    continueToken = page.continueToken ?? undefined;
  } while (continueToken !== undefined);
  await pushMark(context, listVersion);
  options.logger.info("listed events", { count, resourceVersion: listVersion });
  return listVersion;
}

/**
 * One list page, its events already turned into queue items (those not seen lately, in wanted namespaces). All of
 * them are built before any waits for room in the queue, so the parsed page is garbage before the first wait: held
 * across the waits, its objects (most of them managedFields) would outlive young-generation collections and be
 * copied into the old generation, which then fills up and is collected again and again.
 */
async function readListPage(
  context: WatchContext,
  continueToken: string | undefined,
): Promise<{ items: EventItem[]; count: number; resourceVersion: string; continueToken: string | null }> {
  const { options, signal } = context;
  const page = await options.kube.listEvents({
    namespace: context.scope,
    limit: options.listPageLimit ?? 500,
    continueToken,
    signal,
  });
  const items: EventItem[] = [];
  for (const object of page.items) {
    const item = toEventItem(context, object, null);
    if (item !== undefined) items.push(item);
  }
  return { items, count: page.items.length, resourceVersion: page.resourceVersion, continueToken: page.continueToken };
}

/** Queues the gap record of a lost watch window: events between `from` and `to` may never be seen. */
async function pushGap(context: WatchContext, window: { from: string | null; to: string }): Promise<void> {
  const { options, now } = context;
  const record = {
    v: RECORD_VERSION,
    kind: "gap",
    cluster: options.cluster,
    from: window.from,
    to: window.to,
    reason: "WATCH_EXPIRED",
    observedAt: new Date(now()).toISOString(),
  } as const;
  await push(context, { kind: "gap", record, resumeVersion: null, queuedAtMs: now() }, SMALL_ITEM_BYTES);
  options.metrics.gapRecords.add(1);
  options.logger.warn("watch window lost; relisting", { from: window.from, to: window.to });
}

/** Queues a resume point with nothing to send. */
function pushMark(context: WatchContext, resumeVersion: string): Promise<void> {
  return push(context, { kind: "mark", resumeVersion, queuedAtMs: context.now() }, SMALL_ITEM_BYTES);
}

/** Waits for room in the queue (which stops reading the stream), then adds the item. */
function push(context: WatchContext, item: QueueItem, bytes: number): Promise<void> {
  return context.options.queue.push(item, bytes, context.signal);
}

/**
 * Queues one event version (ADDED or MODIFIED), unless it was queued lately or its namespace is not wanted: then only
 * its resume point is queued.
 */
async function pushEvent(context: WatchContext, object: KubeObject, resumeVersion: string): Promise<void> {
  const item = toEventItem(context, object, resumeVersion);
  if (item === undefined) await pushMark(context, resumeVersion);
  else await queueItem(context, item);
}

/**
 * The queue item of one event version, or undefined when it was queued lately (counted as dropped) or its namespace
 * is not wanted. Remembers the version as queued: the item must be queued (`queueItem`) before any other version is
 * looked at.
 */
function toEventItem(context: WatchContext, object: KubeObject, resumeVersion: string | null): EventItem | undefined {
  const { metrics } = context.options;
  const { wanted, recent, now } = context;
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const uid = typeof metadata.uid === "string" ? metadata.uid : "";
  const resourceVersion = String(metadata.resourceVersion);
  const key = toVersionKey(String(metadata.uid), resourceVersion);
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : undefined;
  const isWanted = wanted === undefined || (namespace !== undefined && wanted.has(namespace));
  if (isWanted) metrics.eventsReceived.add(1);
  const isRecent = recent.has(key);
  if (isRecent || !isWanted) {
    if (isRecent) metrics.eventsDropped.add(1, { reason: "same_resource_version" });
    return undefined;
  }
  recent.add(key);
  // Set to undefined, which JSON.stringify leaves out, rather than deleted: a delete turns the object into a slow
  // dictionary that takes longer to serialise.
  if (metadata.managedFields !== undefined) metadata.managedFields = undefined;
  const eventJson = JSON.stringify(object);
  return {
    kind: "event",
    eventJson,
    eventBytes: toUtf8Length(eventJson),
    uid,
    resourceVersion,
    involvedObject: (object.involvedObject ?? object.regarding ?? {}) as ObjectRef,
    observedAt: new Date(now()).toISOString(),
    resumeVersion,
    queuedAtMs: now(),
  };
}

/** Queues an event item, waiting for room (or replacing a queued older version: storm control). */
async function queueItem(context: WatchContext, item: EventItem): Promise<void> {
  const { metrics } = context.options;
  // The batcher's flush interval counts from when the item entered the queue, not from when it was built.
  item.queuedAtMs = context.now();
  if (await queueEventItem(context.options.queue, item, context.signal)) metrics.versionsReplaced.add(1);
  metrics.eventsDispatched.add(1);
}

/** A watch timeout spread over [t, 1.25 t) so that many relays do not reconnect at the same instant. */
function jitterTimeoutS(timeoutS: number, random: (() => number) | undefined): number {
  return Math.round(timeoutS * (1 + 0.25 * (random ?? Math.random)()));
}
