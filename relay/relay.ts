/**
 * One relay process: leader election, and while leader one term of watch, queue, batcher and sender
 * (`leader_term.ts`). `main.ts` builds its dependencies; tests build them too.
 *
 * The leader's modules (the term, the handler client, the enricher and what they import: watch, batcher, gzip and
 * Node's zlib layer) are loaded when leadership is first won, not at start: a standby never sends, and they would add
 * about 4 MiB to an idle standby's 50.
 */
import type { Logger } from "../shared/telemetry/log.ts";
import { type Delay, delay as realDelay } from "../shared/delay.ts";
import type { RelayConfig } from "./config.ts";
import type { HandlerClient } from "./send/handler_client.ts";
import type { Enricher } from "./pipeline/enricher.ts";
import type { HealthState } from "./health_server.ts";
import type { KubeApi } from "./kube/kube_api.ts";
import { LeaderElector } from "./kube/leader_election.ts";
import type { LeaderTermOptions, runLeaderTerm } from "./leader_term.ts";
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
  const elector = createElector(options, { now, delay });
  const leader = createLeaderLoader(options, { now, delay });
  let lastActivityMs: number | undefined;
  /** Why the API server refuses the leader's list or watch of events; undefined while it allows them. */
  let watchRefusal: string | undefined;
  let isRunning = false;
  metrics.observeIsLeader(() => elector.isLeader);
  const termOptions: Omit<LeaderTermOptions, "client" | "enrich"> = {
    config,
    cluster,
    kube,
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
      client: {
        get authRefusal() {
          return leader.client?.authRefusal;
        },
      },
      now,
      isRunning: () => isRunning,
      lastActivityMs: () => lastActivityMs,
      watchRefusal: () => watchRefusal,
    }),
    async run(signal) {
      isRunning = true;
      logger.info("relay starting", { cluster, identity: config.podName, server: kube.server });
      try {
        await elector.run({
          signal,
          lead: async (leadership) => {
            const { runLeaderTerm, client, enricher } = await leader.load();
            return runLeaderTerm(leadership, signal, { ...termOptions, client, enrich: (ref) => enricher.enrich(ref) });
          },
        });
      } finally {
        isRunning = false;
        logger.info("relay stopped", { cluster });
      }
    },
  };
}

/** The Lease elector, which runs for the life of the process. */
function createElector(options: RelayOptions, clock: { now: () => number; delay: Delay }): LeaderElector {
  const { config, kube, logger, random } = options;
  return new LeaderElector({
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
}

/**
 * Loads the leader's modules on the first `load()` and builds the handler client and the enricher once: both outlive
 * terms (the enricher's cache; a token refusal the client saw keeps the relay unready until a send succeeds).
 * `client` is undefined until then.
 */
function createLeaderLoader(options: RelayOptions, clock: { now: () => number; delay: Delay }) {
  let loading: Promise<{ runLeaderTerm: typeof runLeaderTerm; client: HandlerClient; enricher: Enricher }> | undefined;
  const loader = {
    client: undefined as HandlerClient | undefined,
    load() {
      loading ??= Promise.all([
        import("./leader_term.ts"),
        import("./send/handler_client.ts"),
        import("./pipeline/enricher.ts"),
      ]).then(([term, send, enrichment]) => {
        const { config, kube, metrics, logger, random } = options;
        const client = new send.HandlerClient({
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
        const enricher = new enrichment.Enricher({
          kube,
          cacheEntriesMax: config.enrichCacheEntriesMax,
          cacheTtlMs: config.enrichCacheTtlS * 1000,
          timeoutMs: config.enrichTimeoutMs,
          metrics,
          logger,
          now: clock.now,
        });
        loader.client = client;
        return { runLeaderTerm: term.runLeaderTerm, client, enricher };
      });
      return loading;
    },
  };
  return loader;
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
