/**
 * One relay process: leader election, and while leader the watch loop, the queue, the batcher and the sender.
 * `main.ts` builds its dependencies; tests build them too.
 */
import { describeError, type Logger } from "../shared/telemetry/log.ts";
import type { Fence } from "../shared/contract/protocol.ts";
import { type Delay, delay as realDelay } from "./send/backoff.ts";
import { Batcher } from "./pipeline/batcher.ts";
import { ByteQueue } from "./pipeline/byte_queue.ts";
import type { RelayConfig } from "./config.ts";
import { Enricher } from "./pipeline/enricher.ts";
import { runEventWatcher } from "./pipeline/event_watcher.ts";
import { type GzipBatch, gzipLines, HandlerClient } from "./send/handler_client.ts";
import type { HealthState } from "./health_server.ts";
import type { KubeApi } from "./kube/kube_api.ts";
import { LeaderElector, type Leadership } from "./kube/leader_election.ts";
import type { RelayMetrics } from "./metrics.ts";
import type { QueueItem } from "./pipeline/queue_item.ts";
import { linkSignals } from "./linked_signal.ts";
import type { TokenReader } from "./send/token_reader.ts";

export interface RelayOptions {
  config: RelayConfig;
  /** The cluster name (configured or detected). */
  cluster: string;
  kube: KubeApi;
  readToken: TokenReader;
  logger: Logger;
  metrics: RelayMetrics;
  fetch?: typeof fetch;
  now?: () => number;
  delay?: Delay;
  random?: () => number;
}

export interface Relay {
  health: HealthState;
  /**
   * Runs until `signal` aborts, then shuts down gracefully: stops the watch, sends what is queued within
   * SHUTDOWN_DEADLINE_S, releases the Lease.
   */
  run(signal: AbortSignal): Promise<void>;
}

/** Builds a relay from its configuration and adapters. */
export function createRelay(options: RelayOptions): Relay {
  const { config, cluster, kube, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const delay = options.delay ?? realDelay;
  const elector = new LeaderElector({
    kube,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    identity: config.podName,
    leaseDurationS: config.leaseDurationS,
    renewDeadlineS: config.leaseRenewDeadlineS,
    retryPeriodS: config.leaseRetryPeriodS,
    logger,
    now,
    delay,
    random: options.random,
  });
  const enricher = new Enricher({
    kube,
    cacheEntriesMax: config.enrichCacheEntriesMax,
    cacheTtlMs: config.enrichCacheTtlS * 1000,
    timeoutMs: config.enrichTimeoutMs,
    metrics,
    logger,
    now,
  });
  const client = new HandlerClient({
    url: config.handlerUrl,
    cluster,
    readToken: options.readToken,
    retryBackoffMaxMs: config.retryBackoffMaxMs,
    metrics,
    logger,
    fetch: options.fetch,
    delay,
    random: options.random,
    now,
  });
  let lastActivityMs: number | undefined;
  /** Why the API server refuses the leader's list or watch of events; undefined while it allows them. */
  let watchRefusal: string | undefined;
  let isRunning = false;
  metrics.observeIsLeader(() => elector.isLeader);

  const health: HealthState = {
    isLive: () => isRunning,
    readiness() {
      const nowMs = now();
      if (client.authRefusal !== undefined) {
        return { isReady: false, reason: `the handler refuses the token (${client.authRefusal}); retrying` };
      }
      if (elector.refusal !== undefined) {
        return { isReady: false, reason: `the API server refuses the Lease: ${elector.refusal}` };
      }
      if (elector.isLeader && watchRefusal !== undefined) {
        return { isReady: false, reason: `leader, the API server refuses events: ${watchRefusal}` };
      }
      if (elector.isLeader) {
        const idleMs = lastActivityMs === undefined ? Infinity : nowMs - lastActivityMs;
        return idleMs <= config.watchIdleMaxS * 1000
          ? { isReady: true, reason: "leader, watch active" }
          : { isReady: false, reason: `leader, watch idle for more than ${config.watchIdleMaxS} s` };
      }
      const contactMs = elector.lastContactMs;
      const isHealthy = contactMs !== undefined && nowMs - contactMs <= config.leaseDurationS * 1000;
      return isHealthy
        ? { isReady: true, reason: "standby" }
        : { isReady: false, reason: "standby, the Lease cannot be read" };
    },
  };

  async function lead(leadership: Leadership, shutdown: AbortSignal): Promise<void> {
    const { fence, lostSignal } = leadership;
    const queue = new ByteQueue<QueueItem>({ bytesMax: config.queueBytesMax });
    metrics.observeQueue(() => ({ bytes: queue.bytes, records: queue.length }));
    const batcher = new Batcher({
      queue,
      cluster,
      batchRecordsMax: config.batchRecordsMax,
      batchBytesMax: config.batchBytesMax,
      flushIntervalMs: config.flushIntervalMs,
      enrich: (item) => enricher.enrich(item.involvedObject),
      now,
      delay,
    });
    const stepDown = new AbortController();
    const watchLink = linkSignals(shutdown, lostSignal, stepDown.signal);
    const watchSignal = watchLink.signal;
    lastActivityMs = now();
    watchRefusal = undefined;
    let isWatchDone = false;
    const watching = runEventWatcher({
      kube,
      queue,
      cluster,
      namespaces: config.namespaces,
      readResumeVersion: async (signal) => (await client.readCheckpoint(signal)).resumeVersion,
      onActivity: () => {
        lastActivityMs = now();
      },
      onRefused: (error) => {
        watchRefusal = error?.message;
      },
      metrics,
      logger,
      backoffMaxMs: config.retryBackoffMaxMs,
      now,
      delay,
      random: options.random,
    }, watchSignal).catch((error) => {
      logger.error("watch loop failed", { error: describeError(error) });
      stepDown.abort();
    }).finally(() => {
      isWatchDone = true;
      logger.debug("watch loop ended", { queuedItems: queue.length });
    });
    const deadline = new AbortController();
    const onShutdown = () => {
      logger.info("stopping the watch; sending what is queued", { queuedItems: queue.length });
      const timer = setTimeout(
        () => deadline.abort(new Error("Cannot flush: SHUTDOWN_DEADLINE_S passed")),
        config.shutdownDeadlineS * 1000,
      );
      deadline.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
      stepDown.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    };
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener("abort", onShutdown, { once: true });
    const sendLink = linkSignals(lostSignal, stepDown.signal, deadline.signal);
    const sendSignal = sendLink.signal;
    try {
      await sendLoop({
        batcher,
        fence,
        sendSignal,
        flushSignal: watchSignal,
        isWatchDone: () => isWatchDone,
        stepDown,
      });
    } catch (error) {
      if (!sendSignal.aborted) throw error;
      logger.warn("stopped sending with events still queued", {
        queuedItems: queue.length,
        reason: describeError(sendSignal.reason),
      });
    } finally {
      shutdown.removeEventListener("abort", onShutdown);
      deadline.abort();
      stepDown.abort();
      await watching;
      watchLink.dispose();
      sendLink.dispose();
    }
  }

  /**
   * Sends batches one at a time, in order (a resume point must never be stored before the batches it covers), while
   * the next batch is already being collected, enriched and compressed.
   */
  async function sendLoop(state: {
    batcher: Batcher;
    fence: Fence;
    sendSignal: AbortSignal;
    flushSignal: AbortSignal;
    isWatchDone: () => boolean;
    stepDown: AbortController;
  }): Promise<void> {
    const prepare = async () => {
      const isDraining = state.isWatchDone();
      const next = await state.batcher.next({ signal: state.flushSignal, isDraining });
      // Only the gzipped body is kept while the batch waits and is sent: its lines are garbage from here on.
      const batch: (GzipBatch & { bytes: number }) | undefined = next === undefined ? undefined : {
        body: await gzipLines(next.lines),
        records: next.lines.length,
        bytes: next.bytes,
        resumeVersion: next.resumeVersion,
      };
      return { batch, isDraining };
    };
    let lastResumeVersion: string | null = null;
    let next = prepare();
    try {
      while (!state.sendSignal.aborted) {
        const { batch, isDraining } = await next;
        next = prepare();
        if (batch === undefined) {
          if (isDraining) return;
          // The watch is stopping: wait for it, then drain what it queued.
          if (state.flushSignal.aborted) await delay(10);
          continue;
        }
        if (batch.records === 0 && (batch.resumeVersion === null || batch.resumeVersion === lastResumeVersion)) {
          continue;
        }
        const started = now();
        const outcome = await client.sendBatch(batch, { fence: state.fence, signal: state.sendSignal });
        logger.debug("batch sent", { records: batch.records, bytes: batch.bytes, sendMs: now() - started });
        if (outcome.status === "fenced") {
          state.stepDown.abort();
          return;
        }
        if (batch.resumeVersion !== null) lastResumeVersion = batch.resumeVersion;
      }
    } finally {
      // The batch being prepared is abandoned with its queue; it settles without anyone waiting for it.
      next.catch((error) => logger.warn("abandoned batch failed", { error: describeError(error) }));
    }
  }

  return {
    health,
    async run(signal) {
      isRunning = true;
      logger.info("relay starting", { cluster, identity: config.podName, server: kube.server });
      try {
        await elector.run({ signal, lead: (leadership) => lead(leadership, signal) });
      } finally {
        isRunning = false;
        logger.info("relay stopped", { cluster });
      }
    },
  };
}
