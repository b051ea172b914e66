/**
 * One term as leader: the watch fills a queue bounded in bytes, the batcher drains it, the send loop delivers the
 * batches in order. The term ends when leadership is lost (at once), when the handler fences this relay, when the
 * watch fails for good, or on shutdown: the watch stops first, and what it queued is sent within the shutdown deadline.
 */
import type { ObjectRef } from "../shared/contract/event_view.ts";
import type { Enrichment } from "../shared/contract/records.ts";
import type { Delay } from "../shared/delay.ts";
import { describeError, type Logger } from "../shared/telemetry/log.ts";
import type { RelayConfig } from "./config.ts";
import type { KubeApi } from "./kube/kube_api.ts";
import type { Leadership } from "./kube/leader_election.ts";
import { linkSignals } from "./linked_signal.ts";
import type { RelayMetrics } from "./metrics.ts";
import { Batcher } from "./pipeline/batcher.ts";
import { ByteQueue } from "./pipeline/byte_queue.ts";
import { type EventWatcherOptions, runEventWatcher } from "./pipeline/event_watcher.ts";
import type { QueueItem } from "./pipeline/queue_item.ts";
import type { HandlerClient } from "./send/handler_client.ts";
import { runSendLoop } from "./send/send_loop.ts";
import { toStormKey } from "./pipeline/storm_control.ts";

export interface LeaderTermOptions {
  config: Pick<
    RelayConfig,
    | "queueBytesMax"
    | "batchRecordsMax"
    | "batchBytesMax"
    | "flushIntervalMs"
    | "namespaces"
    | "retryBackoffMaxMs"
    | "watchIdleTimeoutS"
    | "shutdownDeadlineS"
    | "isStormControlEnabled"
  >;
  cluster: string;
  kube: Pick<KubeApi, "listEvents" | "watchEvents">;
  client: Pick<HandlerClient, "readCheckpoint" | "sendBatch">;
  /** Looks up an event's involved object; settles within its own bound. */
  enrich: (ref: ObjectRef) => Promise<Enrichment | undefined>;
  /** Called for every event and bookmark the watch delivers, and when the term starts (readiness). */
  onActivity: () => void;
  /** The API server refuses (error) or allows again (undefined) listing and watching events (readiness). */
  onRefused?: EventWatcherOptions["onRefused"];
  metrics: EventWatcherOptions["metrics"] & Pick<RelayMetrics, "observeQueue">;
  logger: Logger;
  now: () => number;
  delay: Delay;
  random?: () => number;
}

/**
 * Runs one term until it ends (see the file's summary); resolves then, with the watch stopped. Rejects only with an
 * unexpected failure of the send loop (a send's abort when sending stops is logged, not thrown).
 */
export async function runLeaderTerm(
  leadership: Leadership,
  shutdown: AbortSignal,
  options: LeaderTermOptions,
): Promise<void> {
  const { fence, lostSignal } = leadership;
  const { config, logger } = options;
  const queue = new ByteQueue<QueueItem>({
    bytesMax: config.queueBytesMax,
    keyOf: config.isStormControlEnabled ? toStormKey : undefined,
  });
  options.metrics.observeQueue(() => ({ bytes: queue.bytes, records: queue.length }));
  const batcher = createTermBatcher(queue, options);
  const stepDown = new AbortController();
  const watchLink = linkSignals(shutdown, lostSignal, stepDown.signal);
  const watch = startWatch(queue, { signal: watchLink.signal, stepDown }, options);
  const deadline = armShutdownDeadline(shutdown, {
    deadlineS: config.shutdownDeadlineS,
    stepDownSignal: stepDown.signal,
    onShutdown: () => logger.info("stopping the watch; sending what is queued", { queuedItems: queue.length }),
  });
  const sendLink = linkSignals(lostSignal, stepDown.signal, deadline.signal);
  try {
    await runSendLoop({
      batcher,
      client: options.client,
      fence,
      sendSignal: sendLink.signal,
      flushSignal: watchLink.signal,
      isWatchDone: watch.isDone,
      onFenced: () => stepDown.abort(),
      logger,
      now: options.now,
      delay: options.delay,
    });
  } catch (error) {
    if (!sendLink.signal.aborted) throw error;
    logger.warn("stopped sending with events still queued", {
      queuedItems: queue.length,
      reason: describeError(sendLink.signal.reason),
    });
  } finally {
    deadline.dispose();
    stepDown.abort();
    await watch.done;
    watchLink.dispose();
    sendLink.dispose();
  }
}

function createTermBatcher(queue: ByteQueue<QueueItem>, options: LeaderTermOptions): Batcher {
  const { config } = options;
  return new Batcher({
    queue,
    cluster: options.cluster,
    batchRecordsMax: config.batchRecordsMax,
    batchBytesMax: config.batchBytesMax,
    flushIntervalMs: config.flushIntervalMs,
    enrich: (item) => options.enrich(item.involvedObject),
    now: options.now,
    delay: options.delay,
  });
}

/**
 * Starts the watch loop into `queue`, resuming from the handler's checkpoint. A watch that fails for good is logged
 * and steps the term down. `isDone` turns true once the loop has ended and queues nothing more.
 */
function startWatch(
  queue: ByteQueue<QueueItem>,
  control: { signal: AbortSignal; stepDown: AbortController },
  options: LeaderTermOptions,
): { done: Promise<void>; isDone: () => boolean } {
  const { client, logger } = options;
  let isDone = false;
  options.onActivity();
  const done = runEventWatcher({
    kube: options.kube,
    queue,
    cluster: options.cluster,
    namespaces: options.config.namespaces,
    readResumeVersion: async (signal) => (await client.readCheckpoint(signal)).resumeVersion,
    onActivity: options.onActivity,
    onRefused: options.onRefused,
    metrics: options.metrics,
    logger,
    backoffMaxMs: options.config.retryBackoffMaxMs,
    watchIdleTimeoutMs: options.config.watchIdleTimeoutS * 1000,
    now: options.now,
    delay: options.delay,
    random: options.random,
  }, control.signal).catch((error) => {
    logger.error("watch loop failed", { error: describeError(error) });
    control.stepDown.abort();
  }).finally(() => {
    isDone = true;
    logger.debug("watch loop ended", { queuedItems: queue.length });
  });
  return { done, isDone: () => isDone };
}

/**
 * A signal that aborts `deadlineS` after `shutdown` does (at once armed if it already has), unless the term steps
 * down first. `dispose` stops listening and aborts it, which also clears its timer.
 */
export function armShutdownDeadline(
  shutdown: AbortSignal,
  options: { deadlineS: number; stepDownSignal: AbortSignal; onShutdown: () => void },
): { signal: AbortSignal; dispose(): void } {
  const deadline = new AbortController();
  const onShutdown = () => {
    options.onShutdown();
    const timer = setTimeout(
      () => deadline.abort(new Error("Cannot flush: SHUTDOWN_DEADLINE_S passed")),
      options.deadlineS * 1000,
    );
    deadline.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    options.stepDownSignal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  };
  if (shutdown.aborted) onShutdown();
  else shutdown.addEventListener("abort", onShutdown, { once: true });
  return {
    signal: deadline.signal,
    dispose() {
      shutdown.removeEventListener("abort", onShutdown);
      deadline.abort();
    },
  };
}
