/**
 * The leader's watch loop: resume from the handler's checkpoint, or list (paged) and watch from the list's
 * version; reconnect with jittered backoff after every failure, forever; after 410 Gone relist and queue a gap
 * record. Each event version is queued once; MODIFIED is a new occurrence; DELETED is not sent. Queueing waits
 * while the queue is full, which stops reading the stream.
 */
import type { ObjectRef } from "../../shared/contract/event_view.ts";
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { RECORD_VERSION } from "../../shared/contract/records.ts";
import { type Delay, delay as realDelay, toBackoffMs } from "../send/backoff.ts";
import type { ByteQueue } from "./byte_queue.ts";
import { type KubeApi, KubeApiError, type KubeObject } from "../kube/kube_api.ts";
import type { RelayMetrics } from "../metrics.ts";
import { type QueueItem, SMALL_ITEM_BYTES, toUtf8Length } from "./queue_item.ts";
import { RecentSet, toVersionKey } from "./recent_set.ts";

export interface EventWatcherOptions {
  kube: Pick<KubeApi, "listEvents" | "watchEvents">;
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
    "watchReconnects" | "relists" | "bookmarks" | "eventsReceived" | "eventsDispatched" | "eventsDropped" | "gapRecords"
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

/** Runs the watch loop until `signal` aborts; resolves then. Never gives up on its own. */
export async function runEventWatcher(options: EventWatcherOptions, signal: AbortSignal): Promise<void> {
  const { kube, queue, logger, metrics, namespaces } = options;
  const now = options.now ?? Date.now;
  const delay = options.delay ?? realDelay;
  const recent = new RecentSet({ entriesMax: options.recentVersionsMax ?? 50_000 });
  const scope = namespaces.length === 1 ? namespaces[0] : undefined;
  const wanted = namespaces.length > 1 ? new Set(namespaces) : undefined;
  const backoff = (attempt: number) =>
    toBackoffMs(attempt, { baseMs: options.backoffBaseMs ?? 200, maxMs: options.backoffMaxMs, random: options.random });

  const push = (item: QueueItem, bytes: number) => queue.push(item, bytes, signal);

  async function pushEvent(object: KubeObject, resumeVersion: string | null): Promise<void> {
    const metadata = (object.metadata ?? {}) as Record<string, unknown>;
    const key = toVersionKey(String(metadata.uid), String(metadata.resourceVersion));
    const namespace = typeof metadata.namespace === "string" ? metadata.namespace : undefined;
    const isWanted = wanted === undefined || (namespace !== undefined && wanted.has(namespace));
    if (isWanted) metrics.eventsReceived.add(1);
    const isRecent = recent.has(key);
    if (isRecent || !isWanted) {
      if (isRecent) metrics.eventsDropped.add(1, { reason: "same_resource_version" });
      if (resumeVersion !== null) await push({ kind: "mark", resumeVersion, queuedAtMs: now() }, SMALL_ITEM_BYTES);
      return;
    }
    recent.add(key);
    // Set to undefined, which JSON.stringify leaves out, rather than deleted: a delete turns the object into a slow
    // dictionary that takes longer to serialise.
    if (metadata.managedFields !== undefined) metadata.managedFields = undefined;
    const eventJson = JSON.stringify(object);
    const involvedObject = (object.involvedObject ?? object.regarding ?? {}) as ObjectRef;
    const observedAt = new Date(now()).toISOString();
    const eventBytes = toUtf8Length(eventJson);
    await push(
      { kind: "event", eventJson, eventBytes, involvedObject, observedAt, resumeVersion, queuedAtMs: now() },
      eventBytes,
    );
    metrics.eventsDispatched.add(1);
  }

  /** Lists every page; queues a gap record first when `gapFrom` is set. Returns the list's resourceVersion. */
  async function list(gapFrom: string | null | undefined): Promise<string> {
    metrics.relists.add(1);
    let continueToken: string | undefined;
    let listVersion: string | undefined;
    let count = 0;
    do {
      const page = await kube.listEvents({
        namespace: scope,
        limit: options.listPageLimit ?? 500,
        continueToken,
        signal,
      });
      if (listVersion === undefined) {
        listVersion = page.resourceVersion;
        if (gapFrom !== undefined) {
          const record = {
            v: RECORD_VERSION,
            kind: "gap",
            cluster: options.cluster,
            from: gapFrom,
            to: listVersion,
            reason: "WATCH_EXPIRED",
            observedAt: new Date(now()).toISOString(),
          } as const;
          await push({ kind: "gap", record, resumeVersion: null, queuedAtMs: now() }, SMALL_ITEM_BYTES);
          metrics.gapRecords.add(1);
          logger.warn("watch window lost; relisting", { from: gapFrom, to: listVersion });
        }
      }
      for (const item of page.items) await pushEvent(item, null);
      options.onActivity();
      count += page.items.length;
      continueToken = page.continueToken ?? undefined;
    } while (continueToken !== undefined);
    await push({ kind: "mark", resumeVersion: listVersion, queuedAtMs: now() }, SMALL_ITEM_BYTES);
    logger.info("listed events", { count, resourceVersion: listVersion });
    return listVersion;
  }

  let position: string | null;
  try {
    position = await options.readResumeVersion(signal);
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
  let needsList = position === null;
  let gapFrom: string | null | undefined = undefined;
  /** The message of the refusal in force (logged once as an error, not at every retry). */
  let refusal: string | undefined;
  const onAllowed = () => {
    if (refusal === undefined) return;
    refusal = undefined;
    logger.info("the API server lets the relay list and watch events again");
    options.onRefused?.(undefined);
  };
  logger.info("watch starting", { resumeVersion: position ?? "(none: list first)" });
  for (let attempt = 0; !signal.aborted;) {
    let delivered = 0;
    try {
      if (needsList) {
        position = await list(gapFrom);
        onAllowed();
        needsList = false;
        gapFrom = undefined;
      }
      const stream = kube.watchEvents({
        namespace: scope,
        resourceVersion: position!,
        timeoutS: jitterTimeoutS(options.watchTimeoutS ?? 300, options.random),
        idleTimeoutMs: options.watchIdleTimeoutMs ?? 330_000,
        signal,
      });
      for await (const notification of stream) {
        if (signal.aborted) return;
        delivered++;
        if (delivered === 1) onAllowed();
        options.onActivity();
        if (notification.type === "BOOKMARK") {
          metrics.bookmarks.add(1);
          await push(
            { kind: "mark", resumeVersion: notification.resourceVersion, queuedAtMs: now() },
            SMALL_ITEM_BYTES,
          );
        } else if (notification.type === "DELETED") {
          await push(
            { kind: "mark", resumeVersion: notification.resourceVersion, queuedAtMs: now() },
            SMALL_ITEM_BYTES,
          );
        } else await pushEvent(notification.object, notification.resourceVersion);
        position = notification.resourceVersion;
      }
      attempt = delivered > 0 ? 0 : attempt + 1;
      if (attempt > 0) await delay(backoff(attempt - 1), signal);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof KubeApiError && error.status === 410) {
        // A 410 while listing (an expired continue token) keeps the gap already being closed, or none.
        if (!needsList) gapFrom = position;
        needsList = true;
        // The first 410 relists at once; a 410 again before anything was delivered backs off like any failure.
        attempt = delivered > 0 ? 0 : attempt + 1;
        if (attempt > 1) {
          try {
            await delay(backoff(attempt - 2), signal);
          } catch {
            return; // The only rejection of delay is the shutdown signal.
          }
        }
      } else if (error instanceof KubeApiError && (error.status === 401 || error.status === 403)) {
        attempt = delivered > 0 ? 1 : attempt + 1;
        if (refusal !== error.message) {
          logger.error("Cannot collect events: the API server refuses to list or watch them; retrying", {
            error: describeError(error),
            hint: "grant list and watch on events (deploy/base/relay/clusterrole.yaml)",
          });
        }
        refusal = error.message;
        options.onRefused?.(error);
        try {
          await delay(backoff(attempt - 1), signal);
        } catch {
          return; // The only rejection of delay is the shutdown signal.
        }
      } else {
        attempt = delivered > 0 ? 1 : attempt + 1;
        logger.warn("watch failed; reconnecting", { error: describeError(error), attempt });
        try {
          await delay(backoff(attempt - 1), signal);
        } catch {
          return; // The only rejection of delay is the shutdown signal.
        }
      }
    }
    metrics.watchReconnects.add(1);
  }
}

/** A watch timeout spread over [t, 1.25 t) so that many relays do not reconnect at the same instant. */
function jitterTimeoutS(timeoutS: number, random: (() => number) | undefined): number {
  return Math.round(timeoutS * (1 + 0.25 * (random ?? Math.random)()));
}
