/**
 * One relay process: leader election, and while leader one term of watch, queue, batcher and sender
 * (`leader_term.ts`). `main.ts` builds its dependencies; tests build them too.
 */
import type { Logger } from "../shared/telemetry/log.ts";
import { type Delay, delay as realDelay } from "../shared/delay.ts";
import type { RelayConfig } from "./config.ts";
import { Enricher } from "./pipeline/enricher.ts";
import { HandlerClient } from "./send/handler_client.ts";
import type { HealthState } from "./health_server.ts";
import type { KubeApi } from "./kube/kube_api.ts";
import { LeaderElector } from "./kube/leader_election.ts";
import { type LeaderTermOptions, runLeaderTerm } from "./leader_term.ts";
import type { RelayMetrics } from "./metrics.ts";
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
  const { elector, enricher, client } = createParts(options, { now, delay });
  let lastActivityMs: number | undefined;
  /** Why the API server refuses the leader's list or watch of events; undefined while it allows them. */
  let watchRefusal: string | undefined;
  let isRunning = false;
  metrics.observeIsLeader(() => elector.isLeader);
  const termOptions: LeaderTermOptions = {
    config,
    cluster,
    kube,
    client,
    enrich: (ref) => enricher.enrich(ref),
    onActivity: () => {
      lastActivityMs = now();
    },
    onRefused: (error) => {
      watchRefusal = error?.message;
    },
    metrics,
    logger,
    now,
    delay,
    random: options.random,
  };
  return {
    health: createRelayHealth({
      config,
      elector,
      client,
      now,
      isRunning: () => isRunning,
      lastActivityMs: () => lastActivityMs,
      watchRefusal: () => watchRefusal,
    }),
    async run(signal) {
      isRunning = true;
      logger.info("relay starting", { cluster, identity: config.podName, server: kube.server });
      try {
        await elector.run({ signal, lead: (leadership) => runLeaderTerm(leadership, signal, termOptions) });
      } finally {
        isRunning = false;
        logger.info("relay stopped", { cluster });
      }
    },
  };
}

/** The long-lived parts: the Lease elector, the enricher (its cache outlives terms) and the handler client. */
function createParts(options: RelayOptions, clock: { now: () => number; delay: Delay }) {
  const { config, kube, logger, metrics, random } = options;
  const elector = new LeaderElector({
    kube,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    identity: config.podName,
    leaseDurationS: config.leaseDurationS,
    renewDeadlineS: config.leaseRenewDeadlineS,
    retryPeriodS: config.leaseRetryPeriodS,
    logger,
    ...clock,
    random,
  });
  const enricher = new Enricher({
    kube,
    cacheEntriesMax: config.enrichCacheEntriesMax,
    cacheTtlMs: config.enrichCacheTtlS * 1000,
    timeoutMs: config.enrichTimeoutMs,
    metrics,
    logger,
    now: clock.now,
  });
  const client = new HandlerClient({
    url: config.handlerUrl,
    cluster: options.cluster,
    readToken: options.readToken,
    retryBackoffMaxMs: config.retryBackoffMaxMs,
    requestTimeoutMs: config.handlerRequestTimeoutMs,
    metrics,
    logger,
    fetch: options.fetch,
    ...clock,
    random,
  });
  return { elector, enricher, client };
}

/**
 * The probes' view of a relay. Not ready while the handler refuses the token or the API server refuses the Lease or
 * (as leader) the events; as leader, ready while the watch has
 * delivered something within WATCH_IDLE_MAX_S; as standby, ready while the API server answered a Lease request within
 * the lease duration.
 */
export function createRelayHealth(state: {
  config: Pick<RelayConfig, "watchIdleMaxS" | "leaseDurationS">;
  elector: Pick<LeaderElector, "isLeader" | "lastContactMs" | "refusal">;
  client: Pick<HandlerClient, "authRefusal">;
  now: () => number;
  isRunning: () => boolean;
  lastActivityMs: () => number | undefined;
  /** Why the API server refuses the leader's list or watch of events; undefined while it allows them. */
  watchRefusal: () => string | undefined;
}): HealthState {
  const { config, elector, client } = state;
  return {
    isLive: state.isRunning,
    readiness() {
      const nowMs = state.now();
      if (client.authRefusal !== undefined) {
        return { isReady: false, reason: `the handler refuses the token (${client.authRefusal}); retrying` };
      }
      if (elector.refusal !== undefined) {
        return { isReady: false, reason: `the API server refuses the Lease: ${elector.refusal}` };
      }
      const watchRefusal = state.watchRefusal();
      if (elector.isLeader && watchRefusal !== undefined) {
        return { isReady: false, reason: `leader, the API server refuses events: ${watchRefusal}` };
      }
      if (elector.isLeader) {
        const lastActivityMs = state.lastActivityMs();
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
}
