/**
 * A watch response body: newline-delimited JSON watch events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) read from
 * the event store as the client reads them. A watch that falls out of the window gets an ERROR 410 event and ends,
 * like a slow watcher on a real API server; the store never buffers for a client that does not read.
 */
import type { ChangeType, EventStore } from "../stores/event_store.ts";
import type { Controls } from "../controls.ts";
import type { RevisionCounter } from "../stores/revision_counter.ts";
import { toKubeStatus } from "./kube_status.ts";

/** Annotation on the bookmark that ends the initial events of a `sendInitialEvents=true` watch. */
export const INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end";

/** The longest delay a timer accepts. */
const TIMER_MS_MAX = 2 ** 31 - 1;

/** Changes sent in one chunk at most. */
const CHANGES_PER_CHUNK_MAX = 500;

/** What a watch stream reads from and how it behaves. */
export interface WatchStreamOptions {
  store: EventStore;
  controls: Controls;
  counter: RevisionCounter;
  /** Only events in this namespace; all namespaces when absent. */
  namespace?: string;
  /** Send changes after this version. When absent, first an ADDED for every live event, then changes. */
  resourceVersion?: number;
  /** Send the live events first even though `resourceVersion` is set (then a bookmark marking their end). */
  isInitialEventsRequested: boolean;
  isBookmarkAllowed: boolean;
  bookmarkIntervalMs: number;
  /** The stream ends cleanly (after a last bookmark when allowed) this long after it started. */
  timeoutMs: number;
  /** Keeps only events whose JSON passes (field selectors). */
  filter?: (json: string) => boolean;
  /** Turns an event's JSON into the watch event's object JSON (tables); identity when absent. */
  toObjectJson?: (json: string, type: ChangeType) => string;
  /** Ends the stream cleanly when aborted (closeWatches, simulator close). */
  signal: AbortSignal;
}

/** Where one watch stream stands; passed to each step of it. */
interface WatchState {
  options: WatchStreamOptions;
  toObjectJson: (json: string, type: ChangeType) => string;
  encoder: TextEncoder;
  /** The version the initial events are listed at. */
  snapshotVersion: number;
  deadlineMs: number;
  nextBookmarkAtMs: number;
  /** The last version whose changes are sent (or skipped by the filter). */
  cursor: number;
  /** Where the next page of initial events starts. */
  initialAfterKey: string | undefined;
  isInitialDone: boolean;
  isDone: boolean;
  isCanceled: boolean;
  streamController: ReadableStreamDefaultController<Uint8Array> | undefined;
  deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the stream once; the same function is the signal's abort listener. */
  finish: () => void;
}

/** Builds the body of a watch answer. */
export function createWatchStream(options: WatchStreamOptions): ReadableStream<Uint8Array> {
  const watch = createWatchState(options);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      watch.streamController = controller;
      if (options.signal.aborted) return watch.finish();
      options.signal.addEventListener("abort", watch.finish, { once: true });
      watch.deadlineTimer = setTimeout(() => {
        const version = toLastBookmarkVersion(watch);
        if (!watch.isDone && version !== undefined) controller.enqueue(watch.encoder.encode(toBookmarkLine(version)));
        watch.finish();
      }, Math.min(options.timeoutMs, TIMER_MS_MAX));
    },
    pull: (controller) => pullWatch(watch, controller),
    cancel() {
      watch.isCanceled = true;
      watch.finish();
    },
  }, { highWaterMark: 0 });
}

function createWatchState(options: WatchStreamOptions): WatchState {
  const startedAtMs = Date.now();
  const isInitialPhase = options.resourceVersion === undefined || options.isInitialEventsRequested;
  const snapshotVersion = options.counter.current;
  const watch: WatchState = {
    options,
    toObjectJson: options.toObjectJson ?? ((json: string) => json),
    encoder: new TextEncoder(),
    snapshotVersion,
    deadlineMs: startedAtMs + options.timeoutMs,
    nextBookmarkAtMs: startedAtMs + options.bookmarkIntervalMs,
    cursor: isInitialPhase ? snapshotVersion : options.resourceVersion!,
    initialAfterKey: undefined,
    isInitialDone: !isInitialPhase,
    isDone: false,
    isCanceled: false,
    streamController: undefined,
    deadlineTimer: undefined,
    finish: () => finishWatch(watch),
  };
  return watch;
}

function finishWatch(watch: WatchState): void {
  if (watch.isDone) return;
  watch.isDone = true;
  clearTimeout(watch.deadlineTimer);
  watch.options.signal.removeEventListener("abort", watch.finish);
  if (!watch.isCanceled) watch.streamController?.close();
}

/** Enqueues the next chunk of lines, waiting while stalled or idle; ends the stream when due. */
async function pullWatch(watch: WatchState, controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
  const { options } = watch;
  while (!watch.isDone) {
    const stallMs = options.controls.stallRemainingMs();
    if (stallMs > 0) {
      await waitForWork(watch, {
        durationMs: Math.min(stallMs, watch.deadlineMs - Date.now()),
        isChangeAwaited: false,
      });
      continue;
    }
    const cursorBefore = watch.cursor;
    const lines = toNextLines(watch);
    if (watch.isDone) return;
    if (lines === undefined) return watch.finish();
    if (lines !== "") return controller.enqueue(watch.encoder.encode(lines));
    if (watch.cursor !== cursorBefore) continue;
    const untilBookmarkMs = options.isBookmarkAllowed ? watch.nextBookmarkAtMs - Date.now() : Number.POSITIVE_INFINITY;
    await waitForWork(watch, {
      durationMs: Math.min(untilBookmarkMs, watch.deadlineMs - Date.now()),
      isChangeAwaited: true,
    });
  }
}

/** The next chunk of lines, "" when there is nothing to send now, undefined when the stream must end. */
function toNextLines(watch: WatchState): string | undefined {
  return watch.isInitialDone ? toChangeLines(watch) : toInitialLines(watch);
}

/** The next page of live events as ADDED lines, and after the last page the bookmark that marks their end. */
function toInitialLines(watch: WatchState): string {
  const { options } = watch;
  const page = options.store.list({
    resourceVersion: watch.snapshotVersion,
    namespace: options.namespace,
    afterKey: watch.initialAfterKey,
    limit: CHANGES_PER_CHUNK_MAX,
    filter: options.filter,
  });
  let lines = page.items.map((json) => `{"type":"ADDED","object":${watch.toObjectJson(json, "ADDED")}}\n`).join("");
  watch.initialAfterKey = page.continueKey;
  if (watch.initialAfterKey === undefined) {
    watch.isInitialDone = true;
    if (options.isInitialEventsRequested && options.isBookmarkAllowed) {
      lines += toBookmarkLine(watch.snapshotVersion, { [INITIAL_EVENTS_END_ANNOTATION]: "true" });
    }
  }
  return lines;
}

/**
 * The changes after the cursor, or a bookmark when there are none and one is due. Enqueues the ERROR 410 line and
 * answers undefined when the cursor fell out of the window.
 */
function toChangeLines(watch: WatchState): string | undefined {
  const { options } = watch;
  const next = options.store.changesAfter(watch.cursor, { namespace: options.namespace, max: CHANGES_PER_CHUNK_MAX });
  if (next.isExpired) {
    watch.streamController?.enqueue(watch.encoder.encode(toExpiredLine(watch.cursor, next.floor)));
    return undefined;
  }
  watch.cursor = next.lastResourceVersion;
  const filter = options.filter;
  const changes = filter === undefined ? next.changes : next.changes.filter((change) => filter(change.json));
  let lines = changes.map((change) =>
    `{"type":"${change.type}","object":${watch.toObjectJson(change.json, change.type)}}\n`
  )
    .join("");
  if (next.changes.length === 0 && options.isBookmarkAllowed && Date.now() >= watch.nextBookmarkAtMs) {
    watch.nextBookmarkAtMs = Date.now() + options.bookmarkIntervalMs;
    lines += toBookmarkLine(options.counter.current);
  }
  return lines;
}

/**
 * The version a bookmark sent now may carry: the current one when this watch has nothing left to send, else the
 * last one it has queued (a client resuming from it misses nothing). Undefined while initial events are pending,
 * when stalled, or when bookmarks are not allowed.
 */
function toLastBookmarkVersion(watch: WatchState): number | undefined {
  const { options } = watch;
  if (!options.isBookmarkAllowed || !watch.isInitialDone || options.controls.stallRemainingMs() > 0) return undefined;
  const next = options.store.changesAfter(watch.cursor, { namespace: options.namespace, max: 1 });
  if (next.isExpired) return undefined;
  return next.changes.length === 0 ? options.counter.current : watch.cursor;
}

/** Resolves after `durationMs` (capped to what a timer takes), on a store change when awaited, or on abort. */
function waitForWork(watch: WatchState, wait: { durationMs: number; isChangeAwaited: boolean }): Promise<void> {
  const { store, signal } = watch.options;
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.min(Math.max(0, wait.durationMs), TIMER_MS_MAX));
    const unsubscribe = wait.isChangeAwaited ? store.onChange(done) : () => false;
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A BOOKMARK watch event line at `resourceVersion`, with `annotations` when given. */
export function toBookmarkLine(resourceVersion: number, annotations?: Record<string, string>): string {
  const metadata: Record<string, unknown> = { resourceVersion: String(resourceVersion) };
  if (annotations) metadata.annotations = annotations;
  return JSON.stringify({ type: "BOOKMARK", object: { kind: "Event", apiVersion: "v1", metadata } }) + "\n";
}

/** The ERROR watch event line (a 410 Expired Status) for a watch at `cursor` when the window starts at `floor`. */
export function toExpiredLine(cursor: number, floor: number): string {
  return JSON.stringify({
    type: "ERROR",
    object: toKubeStatus(410, { reason: "Expired", message: `too old resource version: ${cursor} (${floor})` }),
  }) + "\n";
}
