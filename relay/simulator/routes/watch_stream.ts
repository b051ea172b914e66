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

/** Builds the body of a watch answer. */
export function createWatchStream(options: WatchStreamOptions): ReadableStream<Uint8Array> {
  const { store, controls, counter, signal } = options;
  const encoder = new TextEncoder();
  const startedAtMs = Date.now();
  const deadlineMs = startedAtMs + options.timeoutMs;
  let nextBookmarkAtMs = startedAtMs + options.bookmarkIntervalMs;
  const isInitialPhase = options.resourceVersion === undefined || options.isInitialEventsRequested;
  const snapshotVersion = counter.current;
  let cursor = isInitialPhase ? snapshotVersion : options.resourceVersion!;
  let initialAfterKey: string | undefined;
  let isInitialDone = !isInitialPhase;
  let isDone = false;
  let isCanceled = false;
  let streamController: ReadableStreamDefaultController<Uint8Array> | undefined;
  let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  const toObjectJson = options.toObjectJson ?? ((json: string) => json);

  const finish = () => {
    if (isDone) return;
    isDone = true;
    clearTimeout(deadlineTimer);
    signal.removeEventListener("abort", finish);
    if (!isCanceled) streamController?.close();
  };

  const bookmarkLine = (resourceVersion: number, annotations?: Record<string, string>) => {
    const metadata: Record<string, unknown> = { resourceVersion: String(resourceVersion) };
    if (annotations) metadata.annotations = annotations;
    return JSON.stringify({ type: "BOOKMARK", object: { kind: "Event", apiVersion: "v1", metadata } }) + "\n";
  };

  const expiredLine = (floor: number) =>
    JSON.stringify({
      type: "ERROR",
      object: toKubeStatus(410, {
        reason: "Expired",
        message: `too old resource version: ${cursor} (${floor})`,
      }),
    }) + "\n";

  /** The next chunk of lines, "" when there is nothing to send now, undefined when the stream must end. */
  const nextLines = (): string | undefined => {
    if (!isInitialDone) {
      const page = store.list({
        resourceVersion: snapshotVersion,
        namespace: options.namespace,
        afterKey: initialAfterKey,
        limit: CHANGES_PER_CHUNK_MAX,
        filter: options.filter,
      });
      let lines = page.items.map((json) => `{"type":"ADDED","object":${toObjectJson(json, "ADDED")}}\n`).join("");
      initialAfterKey = page.continueKey;
      if (initialAfterKey === undefined) {
        isInitialDone = true;
        if (options.isInitialEventsRequested && options.isBookmarkAllowed) {
          lines += bookmarkLine(snapshotVersion, { [INITIAL_EVENTS_END_ANNOTATION]: "true" });
        }
      }
      return lines;
    }
    const next = store.changesAfter(cursor, { namespace: options.namespace, max: CHANGES_PER_CHUNK_MAX });
    if (next.isExpired) {
      streamController?.enqueue(encoder.encode(expiredLine(next.floor)));
      return undefined;
    }
    cursor = next.lastResourceVersion;
    const filter = options.filter;
    const changes = filter === undefined ? next.changes : next.changes.filter((change) => filter(change.json));
    let lines = changes.map((change) =>
      `{"type":"${change.type}","object":${toObjectJson(change.json, change.type)}}\n`
    )
      .join("");
    if (next.changes.length === 0 && options.isBookmarkAllowed && Date.now() >= nextBookmarkAtMs) {
      nextBookmarkAtMs = Date.now() + options.bookmarkIntervalMs;
      lines += bookmarkLine(counter.current);
    }
    return lines;
  };

  /**
   * The version a bookmark sent now may carry: the current one when this watch has nothing left to send, else the
   * last one it has queued (a client resuming from it misses nothing). Undefined while initial events are pending,
   * when stalled, or when bookmarks are not allowed.
   */
  const lastBookmarkVersion = (): number | undefined => {
    if (!options.isBookmarkAllowed || !isInitialDone || controls.stallRemainingMs() > 0) return undefined;
    const next = store.changesAfter(cursor, { namespace: options.namespace, max: 1 });
    if (next.isExpired) return undefined;
    return next.changes.length === 0 ? counter.current : cursor;
  };

  const waitForWork = (durationMs: number, isChangeAwaited: boolean) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, durationMs), TIMER_MS_MAX));
      const unsubscribe = isChangeAwaited ? store.onChange(done) : () => false;
      signal.addEventListener("abort", done, { once: true });
    });

  return new ReadableStream<Uint8Array>({
    start(controller) {
      streamController = controller;
      if (signal.aborted) return finish();
      signal.addEventListener("abort", finish, { once: true });
      deadlineTimer = setTimeout(() => {
        const version = lastBookmarkVersion();
        if (!isDone && version !== undefined) controller.enqueue(encoder.encode(bookmarkLine(version)));
        finish();
      }, Math.min(options.timeoutMs, TIMER_MS_MAX));
    },
    async pull(controller) {
      while (!isDone) {
        const stallMs = controls.stallRemainingMs();
        if (stallMs > 0) {
          await waitForWork(Math.min(stallMs, deadlineMs - Date.now()), false);
          continue;
        }
        const cursorBefore = cursor;
        const lines = nextLines();
        if (isDone) return;
        if (lines === undefined) return finish();
        if (lines !== "") return controller.enqueue(encoder.encode(lines));
        if (cursor !== cursorBefore) continue;
        const untilBookmarkMs = options.isBookmarkAllowed ? nextBookmarkAtMs - Date.now() : Number.POSITIVE_INFINITY;
        await waitForWork(Math.min(untilBookmarkMs, deadlineMs - Date.now()), true);
      }
    },
    cancel() {
      isCanceled = true;
      finish();
    },
  }, { highWaterMark: 0 });
}
