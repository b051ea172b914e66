/**
 * The relay's configuration, read from environment variables. The only relay file that reads the environment;
 * tests pass a plain object.
 */
import { ConfigError, EnvReader } from "../shared/env_reader.ts";
import { DEFAULT_LIMITS } from "../shared/contract/limits.ts";
import type { LogFields } from "../shared/telemetry/log.ts";
import { isClusterName } from "../shared/contract/cluster_name.ts";
import { type KubeConnection, SERVICE_ACCOUNT_DIR } from "./kube/kube_config.ts";

/** Everything the relay reads from its environment, validated. Units are in the names. */
export interface RelayConfig {
  /**
   * CLUSTER_NAME; undefined means "detect from the kube-system namespace uid" (relay/README.md, "Cluster name
   * detection").
   */
  clusterName: string | undefined;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  handlerUrl: string;
  /** Bearer token file (re-read when it changes), or an inline token for development. */
  handlerToken: { file: string } | { value: string };
  kube: KubeConnection;
  /** Lease holder identity. */
  podName: string;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationS: number;
  leaseRenewDeadlineS: number;
  leaseRetryPeriodS: number;
  queueBytesMax: number;
  /** STORM_CONTROL: a full queue merges a newer version of an event into its queued older one (storm_control.ts). */
  isStormControlEnabled: boolean;
  batchRecordsMax: number;
  batchBytesMax: number;
  flushIntervalMs: number;
  enrichCacheEntriesMax: number;
  enrichCacheTtlS: number;
  enrichTimeoutMs: number;
  watchIdleMaxS: number;
  /** A watch that delivers no byte for this long is given up and opened again from its position. */
  watchIdleTimeoutS: number;
  healthPort: number;
  shutdownDeadlineS: number;
  retryBackoffMaxMs: number;
  handlerRequestTimeoutMs: number;
  isDebug: boolean;
  isOtelEnabled: boolean;
  otelExportIntervalS: number;
}

/** Defaults for everything that has one (limits come from shared/limits.ts). */
export const RELAY_DEFAULTS = {
  leaseName: "events-ingester-relay",
  leaseNamespace: "default",
  leaseDurationS: 15,
  leaseRenewDeadlineS: 10,
  leaseRetryPeriodS: 2,
  enrichCacheEntriesMax: 10_000,
  enrichCacheTtlS: 300,
  enrichTimeoutMs: 1_000,
  watchIdleMaxS: 300,
  // Above the server's watch timeout (300 s) and a minute of bookmarks, so a healthy quiet watch is never cut.
  watchIdleTimeoutS: 330,
  healthPort: 8081,
  shutdownDeadlineS: 10,
  retryBackoffMaxMs: 30_000,
  handlerRequestTimeoutMs: 30_000,
  otelExportIntervalS: 60,
  isStormControlEnabled: true,
} as const;

type Env = Record<string, string | undefined>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Reads and validates the relay configuration. Collects every problem and throws one ConfigError listing them all.
 * `hostname` is the POD_NAME default. In a pod (KUBERNETES_SERVICE_HOST set) the API is reached with the service
 * account; otherwise through KUBECONFIG (or ~/.kube/config) and its current context, never a default localhost.
 */
export function loadRelayConfig(env: Env, options: { hostname?: string } = {}): RelayConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const clusterName = read.raw("CLUSTER_NAME");
  if (clusterName !== undefined && !isClusterName(clusterName)) {
    problems.push(
      `CLUSTER_NAME: "${String(clusterName).slice(0, 60)}" is not 1-253 letters, digits, ".", "_", "-" (no colon)`,
    );
  }
  const namespaces = (read.raw("NAMESPACES") ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  for (const ns of namespaces) {
    if (!DNS_LABEL.test(ns)) problems.push(`NAMESPACES: "${ns.slice(0, 64)}" is not a namespace name`);
  }
  const handlerUrl = read.raw("HANDLER_URL") ?? "";
  if (handlerUrl === "") problems.push("HANDLER_URL: is unset; name the handler, e.g. https://events.example.com");
  else if (!/^https?:\/\//.test(handlerUrl) || !URL.canParse(handlerUrl)) {
    problems.push(`HANDLER_URL: "${handlerUrl.slice(0, 100)}" is not an http:// or https:// URL`);
  }
  const tokenFile = read.raw("HANDLER_TOKEN_FILE");
  const tokenValue = env.HANDLER_TOKEN?.trim() || undefined;
  if (tokenFile !== undefined && tokenValue !== undefined) {
    problems.push("HANDLER_TOKEN_FILE and HANDLER_TOKEN: set one of them, not both");
  } else if (tokenFile === undefined && tokenValue === undefined) {
    problems.push("HANDLER_TOKEN_FILE: is unset (HANDLER_TOKEN is accepted for development)");
  }
  const podName = read.raw("POD_NAME") ?? read.raw("HOSTNAME") ?? options.hostname ?? "";
  if (podName === "") problems.push("POD_NAME: is unset and the host name is unknown");
  const leaseNamespace = read.raw("LEASE_NAMESPACE") ?? read.raw("POD_NAMESPACE") ?? RELAY_DEFAULTS.leaseNamespace;
  if (!DNS_LABEL.test(leaseNamespace)) {
    problems.push(`LEASE_NAMESPACE: "${leaseNamespace.slice(0, 64)}" is not a namespace name`);
  }
  const leaseName = read.raw("LEASE_NAME") ?? RELAY_DEFAULTS.leaseName;
  if (!DNS_SUBDOMAIN.test(leaseName)) problems.push(`LEASE_NAME: "${leaseName.slice(0, 64)}" is not an object name`);
  const config: RelayConfig = {
    clusterName,
    namespaces,
    handlerUrl: handlerUrl.replace(/\/+$/, ""),
    handlerToken: tokenFile !== undefined ? { file: tokenFile } : { value: tokenValue ?? "" },
    kube: readKubeConnection(env, problems),
    podName,
    leaseNamespace,
    leaseName,
    leaseDurationS: read.number("LEASE_DURATION_S", RELAY_DEFAULTS.leaseDurationS, { min: 1, max: 3600 }),
    leaseRenewDeadlineS: read.number("LEASE_RENEW_DEADLINE_S", RELAY_DEFAULTS.leaseRenewDeadlineS, { min: 0.1 }),
    leaseRetryPeriodS: read.number("LEASE_RETRY_PERIOD_S", RELAY_DEFAULTS.leaseRetryPeriodS, { min: 0.05 }),
    queueBytesMax: read.integer("QUEUE_BYTES_MAX", DEFAULT_LIMITS.queueBytesMax, { min: 1024 }),
    isStormControlEnabled: read.boolean("STORM_CONTROL", RELAY_DEFAULTS.isStormControlEnabled),
    batchRecordsMax: read.integer("BATCH_RECORDS_MAX", DEFAULT_LIMITS.batchRecordsMax, { min: 1 }),
    batchBytesMax: read.integer("BATCH_BYTES_MAX", DEFAULT_LIMITS.batchBytesMax, { min: 1024 }),
    flushIntervalMs: read.integer("FLUSH_INTERVAL_MS", DEFAULT_LIMITS.flushIntervalMs, { min: 1, max: 60_000 }),
    enrichCacheEntriesMax: read.integer("ENRICH_CACHE_ENTRIES_MAX", RELAY_DEFAULTS.enrichCacheEntriesMax, { min: 1 }),
    enrichCacheTtlS: read.number("ENRICH_CACHE_TTL_S", RELAY_DEFAULTS.enrichCacheTtlS, { min: 0.001 }),
    enrichTimeoutMs: read.integer("ENRICH_TIMEOUT_MS", RELAY_DEFAULTS.enrichTimeoutMs, { min: 1, max: 60_000 }),
    watchIdleMaxS: read.number("WATCH_IDLE_MAX_S", RELAY_DEFAULTS.watchIdleMaxS, { min: 1 }),
    watchIdleTimeoutS: read.number("WATCH_IDLE_TIMEOUT_S", RELAY_DEFAULTS.watchIdleTimeoutS, { min: 1, max: 3600 }),
    healthPort: read.integer("HEALTH_PORT", RELAY_DEFAULTS.healthPort, { min: 0, max: 65535 }),
    shutdownDeadlineS: read.number("SHUTDOWN_DEADLINE_S", RELAY_DEFAULTS.shutdownDeadlineS, { min: 0 }),
    retryBackoffMaxMs: read.integer("RETRY_BACKOFF_MAX_MS", RELAY_DEFAULTS.retryBackoffMaxMs, { min: 1 }),
    handlerRequestTimeoutMs: read.integer("HANDLER_REQUEST_TIMEOUT_MS", RELAY_DEFAULTS.handlerRequestTimeoutMs, {
      min: 100,
      max: 600_000,
    }),
    isDebug: read.boolean("DEBUG", false),
    isOtelEnabled: read.boolean("OTEL_ENABLED", false),
    otelExportIntervalS: read.duration("OTEL_EXPORT_INTERVAL", RELAY_DEFAULTS.otelExportIntervalS),
  };
  if (config.leaseRenewDeadlineS >= config.leaseDurationS) {
    problems.push(
      `LEASE_RENEW_DEADLINE_S: ${config.leaseRenewDeadlineS} must be shorter than LEASE_DURATION_S ${config.leaseDurationS}`,
    );
  }
  if (config.leaseRetryPeriodS >= config.leaseRenewDeadlineS) {
    problems.push(
      `LEASE_RETRY_PERIOD_S: ${config.leaseRetryPeriodS} must be shorter than LEASE_RENEW_DEADLINE_S ${config.leaseRenewDeadlineS}`,
    );
  }
  if (config.batchBytesMax > config.queueBytesMax) {
    problems.push(`BATCH_BYTES_MAX: ${config.batchBytesMax} must not exceed QUEUE_BYTES_MAX ${config.queueBytesMax}`);
  }
  if (problems.length > 0) throw new ConfigError(problems, { component: "relay" });
  return config;
}

function readKubeConnection(env: Env, problems: string[]): KubeConnection {
  if (env.KUBERNETES_SERVICE_HOST?.trim()) {
    const serviceAccountDir = env.SERVICE_ACCOUNT_DIR?.trim().replace(/(.)\/+$/, "$1") || SERVICE_ACCOUNT_DIR;
    if (!serviceAccountDir.startsWith("/")) {
      problems.push(`SERVICE_ACCOUNT_DIR: "${serviceAccountDir.slice(0, 100)}" is not an absolute path`);
    }
    return { mode: "in-cluster", serviceAccountDir };
  }
  const kubeconfig = env.KUBECONFIG?.trim();
  if (kubeconfig) {
    const first = kubeconfig.split(":").find((p) => p !== "");
    if (first !== undefined) return { mode: "kubeconfig", path: first };
  }
  const home = env.HOME?.trim();
  if (home) return { mode: "kubeconfig", path: `${home}/.kube/config` };
  problems.push("KUBECONFIG: is unset, HOME is unset and this is not a pod (KUBERNETES_SERVICE_HOST is unset)");
  return { mode: "kubeconfig", path: "" };
}

/** The configuration as log fields, without the token. */
export function toLoggableConfig(config: RelayConfig): LogFields {
  const { handlerToken, kube, namespaces, ...rest } = config;
  return {
    ...rest,
    clusterName: config.clusterName ?? "(detect)",
    namespaces: namespaces.length === 0 ? "(all)" : namespaces.join(","),
    handlerToken: "file" in handlerToken ? `file ${handlerToken.file}` : "(inline, redacted)",
    kube: kube.mode === "in-cluster" ? `in-cluster ${kube.serviceAccountDir}` : `kubeconfig ${kube.path}`,
  };
}
