/**
 * The handler's configuration, read from environment variables (names compatible with the existing service).
 * The only handler file that reads the environment; tests pass a plain object.
 */
import { DEFAULT_LIMITS } from "../shared/contract/limits.ts";
import type { LogFields } from "../shared/telemetry/log.ts";
import { ConfigError, EnvReader } from "../shared/env_reader.ts";
import { type ClusterTokenHash, parseTokenHashes } from "./http/token_hashes.ts";
import { DATABASE_DEFAULTS, type DatabaseConfig, readDatabaseConfig } from "./database_config.ts";

/** Bounds on one `POST /v1/events` request; at each the request is refused (README, "Limits"). */
export interface HandlerLimits {
  bodyBytesMax: number;
  decodedBodyBytesMax: number;
  lineBytesMax: number;
  recordsMax: number;
  jsonDepthMax: number;
  /** `POST /v1/events` requests handled at once by this process; more are answered 429 (memory stays bounded). */
  requestsInFlightMax: number;
  /** Seconds the body may stop arriving before the request is answered 408 BODY_READ_TIMEOUT (a stalled client). */
  bodyIdleTimeoutS: number;
}

/** Everything the handler reads from its environment, validated. */
export interface HandlerConfig extends DatabaseConfig {
  dbReadyTimeoutS: number;
  dbPoolMax: number;
  /** TCP port to listen on; 0 picks a free one. */
  port: number;
  /** Accepted token hashes; a cluster may have several (token rotation). */
  tokenHashes: ClusterTokenHash[];
  limits: HandlerLimits;
  /** Whole days of events kept; 0 keeps everything (another owner manages partitions). */
  retentionDays: number;
  shutdownDeadlineS: number;
  isDebug: boolean;
  isOtelEnabled: boolean;
  otelExportIntervalS: number;
  /** HOSTNAME (in Kubernetes the pod's name), null when unset; names this replica in OTLP metrics. */
  hostname: string | null;
}

type Env = Record<string, string | undefined>;

/** Defaults for settings that are not limits. */
export const HANDLER_DEFAULTS = {
  ...DATABASE_DEFAULTS,
  dbReadyTimeoutS: 60,
  dbPoolMax: 10,
  port: 8080,
  retentionDays: 30,
  shutdownDeadlineS: 25,
  otelExportIntervalS: 60,
  requestsInFlightMax: 8,
  bodyIdleTimeoutS: 30,
} as const;

/**
 * Reads and validates the handler configuration from `env`. Collects every problem and throws one ConfigError
 * listing them all. Reads the file named by CLUSTER_TOKEN_HASHES_FILE when set.
 */
export function loadHandlerConfig(env: Env): HandlerConfig {
  const problems: string[] = [];
  const reader = new EnvReader(env, problems);
  const config: HandlerConfig = {
    ...readDatabaseConfig(env, { reader, problems }),
    dbReadyTimeoutS: reader.duration("DB_READY_TIMEOUT", HANDLER_DEFAULTS.dbReadyTimeoutS),
    dbPoolMax: reader.integer("DB_POOL_MAX", HANDLER_DEFAULTS.dbPoolMax, { min: 1, max: 1000 }),
    port: reader.integer("PORT", HANDLER_DEFAULTS.port, { min: 0, max: 65535 }),
    tokenHashes: readTokenHashes(env, problems),
    limits: {
      bodyBytesMax: reader.integer("BODY_BYTES_MAX", DEFAULT_LIMITS.bodyBytesMax, { min: 1 }),
      decodedBodyBytesMax: reader.integer("DECODED_BODY_BYTES_MAX", DEFAULT_LIMITS.decodedBodyBytesMax, { min: 1 }),
      lineBytesMax: reader.integer("LINE_BYTES_MAX", DEFAULT_LIMITS.lineBytesMax, { min: 1 }),
      recordsMax: reader.integer("RECORDS_MAX", DEFAULT_LIMITS.recordsMax, { min: 1 }),
      jsonDepthMax: reader.integer("JSON_DEPTH_MAX", DEFAULT_LIMITS.jsonDepthMax, { min: 1, max: 1000 }),
      requestsInFlightMax: reader.integer("REQUESTS_IN_FLIGHT_MAX", HANDLER_DEFAULTS.requestsInFlightMax, {
        min: 1,
        max: 10000,
      }),
      bodyIdleTimeoutS: reader.number("BODY_IDLE_TIMEOUT_S", HANDLER_DEFAULTS.bodyIdleTimeoutS, {
        min: 0.01,
        max: 3600,
      }),
    },
    retentionDays: reader.integer("RETENTION_DAYS", HANDLER_DEFAULTS.retentionDays, { min: 0, max: 36500 }),
    shutdownDeadlineS: reader.number("SHUTDOWN_DEADLINE_S", HANDLER_DEFAULTS.shutdownDeadlineS, { min: 0 }),
    isDebug: reader.boolean("DEBUG", false),
    isOtelEnabled: reader.boolean("OTEL_ENABLED", false),
    otelExportIntervalS: reader.duration("OTEL_EXPORT_INTERVAL", HANDLER_DEFAULTS.otelExportIntervalS),
    hostname: env.HOSTNAME?.trim() || null,
  };
  if (config.otelExportIntervalS <= 0 && env.OTEL_EXPORT_INTERVAL !== undefined) {
    problems.push("OTEL_EXPORT_INTERVAL: must be longer than 0");
  }
  if (problems.length > 0) throw new ConfigError(problems, { component: "handler" });
  return config;
}

function readTokenHashes(env: Env, problems: string[]): ClusterTokenHash[] {
  const hashes: ClusterTokenHash[] = [];
  const inline = env.CLUSTER_TOKEN_HASHES?.trim();
  if (inline) hashes.push(...parseTokenHashes(inline, { source: "CLUSTER_TOKEN_HASHES", problems }));
  const path = env.CLUSTER_TOKEN_HASHES_FILE?.trim();
  if (path) {
    try {
      const text = Deno.readTextFileSync(path);
      hashes.push(...parseTokenHashes(text, { source: `CLUSTER_TOKEN_HASHES_FILE (${path})`, problems }));
    } catch (error) {
      problems.push(`CLUSTER_TOKEN_HASHES_FILE: cannot read "${path}": ${(error as Error).name}`);
    }
  }
  if (!inline && !path) {
    problems.push("CLUSTER_TOKEN_HASHES, CLUSTER_TOKEN_HASHES_FILE: neither is set, so no cluster could send events");
  }
  const owners = new Map<string, string>();
  const unique: ClusterTokenHash[] = [];
  for (const entry of hashes) {
    const owner = owners.get(entry.sha256Hex);
    if (owner === undefined) {
      owners.set(entry.sha256Hex, entry.cluster);
      unique.push(entry);
    } else if (owner !== entry.cluster) {
      problems.push(`CLUSTER_TOKEN_HASHES: one token hash is given to both "${owner}" and "${entry.cluster}"`);
    }
  }
  return unique;
}

const SECRET_PARAM = /pass|secret|key|token/i;

/** The configuration as log fields, secrets redacted: the database password and secret-looking URL parameters. */
export function toLoggableConfig(config: HandlerConfig): LogFields {
  return {
    databaseUrl: redactDatabaseUrl(config.databaseUrl),
    dbSchema: config.dbSchema,
    dbReadyTimeoutS: config.dbReadyTimeoutS,
    dbConnectTimeoutS: config.dbConnectTimeoutS,
    dbPoolMax: config.dbPoolMax,
    port: config.port,
    tokenClusters: [...new Set(config.tokenHashes.map((entry) => entry.cluster))].sort().join(","),
    tokenHashCount: config.tokenHashes.length,
    ...config.limits,
    retentionDays: config.retentionDays,
    shutdownDeadlineS: config.shutdownDeadlineS,
    isDebug: config.isDebug,
    isOtelEnabled: config.isOtelEnabled,
    otelExportIntervalS: config.otelExportIntervalS,
    hostname: config.hostname,
  };
}

/** The URL with its password and secret-looking query parameters replaced by `***`. */
export function redactDatabaseUrl(databaseUrl: string): string {
  if (!URL.canParse(databaseUrl)) return "***";
  const url = new URL(databaseUrl);
  if (url.password) url.password = "***";
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) url.searchParams.set(key, "***");
  }
  return url.toString().replaceAll("%2A%2A%2A", "***");
}
