/**
 * The handler's configuration, read from environment variables (names compatible with the existing service).
 * The only handler file that reads the environment; tests pass a plain object.
 */
import { DEFAULT_LIMITS } from "../shared/contract/limits.ts";
import type { LogFields } from "../shared/telemetry/log.ts";
import { ConfigError, EnvReader } from "../shared/env_reader.ts";
import { ROW_REFUSALS_MAX_DEFAULT } from "./store/write/row_isolation.ts";
import { type ClusterTokenHash, parseTokenHashes } from "./http/token_hashes.ts";
import { BYTES_HELD_PER_DECODED_BYTE } from "./http/events/memory_budget.ts";
import { PARTITION_LOCK_TIMEOUT_S_DEFAULT } from "./store/schema/known_partitions.ts";
import { DATABASE_DEFAULTS, type DatabaseConfig, readDatabaseConfig } from "./database_config.ts";

/** Bounds on one `POST /v1/events` request; at each the request is refused (handler/README.md, "Limits"). */
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
  /**
   * Rows of one request the database may refuse (ROW_REFUSED lines) before the request is answered 413
   * TOO_MANY_ROWS_REFUSED with nothing stored; bounds the work of finding them (handler/row_isolation.ts).
   */
  rowRefusalsMax: number;
  /**
   * Bytes all `POST /v1/events` requests in flight may hold together, charged BYTES_HELD_PER_DECODED_BYTE per decoded
   * byte; beyond it a request is answered 503 OVER_MEMORY_BUDGET. At least that many times decodedBodyBytesMax.
   */
  requestsMemoryBytesMax: number;
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
  /**
   * Whole days of events kept; 0 keeps everything. Null when RETENTION_DAYS is unset: 30 on a `k8s_events` the
   * handler created, 0 on one it adopted (resolveRetentionDays).
   */
  retentionDays: number | null;
  /** Days whose partitions are kept ready, today first (2: today and tomorrow); 0 creates them only on demand. */
  partitionsAheadDays: number;
  /** Seconds creating a partition on demand may wait for each lock before the batch is answered 503. */
  partitionLockTimeoutS: number;
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
  retentionDays: null,
  partitionsAheadDays: 2,
  partitionLockTimeoutS: PARTITION_LOCK_TIMEOUT_S_DEFAULT,
  shutdownDeadlineS: 25,
  otelExportIntervalS: 60,
  requestsInFlightMax: 8,
  bodyIdleTimeoutS: 30,
  rowRefusalsMax: ROW_REFUSALS_MAX_DEFAULT,
  /**
   * Sized for the Deployment's 512 MiB limit with the image's `--max-old-space-size=256` (deploy/handler/Dockerfile):
   * the oldest request's most (4 × DECODED_BODY_BYTES_MAX, 64 MiB) and as much again for the others, half of the V8
   * heap, which leaves V8 room to collect garbage and the process its runtime baseline inside the limit.
   */
  requestsMemoryBytesMax: 128 * 1024 * 1024,
} as const;

/**
 * SHA-256 hex of every token published in this repository (the example Secrets under deploy/ and the READMEs),
 * each with the file that publishes it. Anyone who read the repository can write with such a token, so a handler
 * configured with one of these hashes refuses to start. tests/handler/published_tokens_test.ts derives this list
 * from the repository's files, so it cannot fall behind them.
 */
export const PUBLISHED_TOKEN_HASHES: ReadonlyMap<string, string> = new Map([
  ["93accecdcffb7a28a1c3b575d2d848410f0763cf6f701e6834fc6958a10362bd", "deploy/overlays/single-cluster"],
  ["3ce6639afb86ddcee7ec4ed1c747a70cb41cccd59ff250f3971fa9e0d77ab366", "deploy/examples/multi-cluster/cluster-a"],
  ["c7fe88c189f4cd6fdbcca03e3f8bfec99768bc2fe447015af3b9492c3dc7e59f", "deploy/examples/multi-cluster/cluster-b"],
]);

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
      rowRefusalsMax: reader.integer("ROW_REFUSALS_MAX", HANDLER_DEFAULTS.rowRefusalsMax, { min: 1, max: 100_000 }),
      requestsMemoryBytesMax: reader.integer("REQUESTS_MEMORY_BYTES_MAX", HANDLER_DEFAULTS.requestsMemoryBytesMax, {
        min: 1,
      }),
    },
    retentionDays: reader.raw("RETENTION_DAYS") === undefined
      ? HANDLER_DEFAULTS.retentionDays
      : reader.integer("RETENTION_DAYS", 0, { min: 0, max: 36500 }),
    partitionsAheadDays: reader.integer("PARTITIONS_AHEAD_DAYS", HANDLER_DEFAULTS.partitionsAheadDays, {
      min: 0,
      max: 366,
    }),
    partitionLockTimeoutS: reader.number("PARTITION_LOCK_TIMEOUT_S", HANDLER_DEFAULTS.partitionLockTimeoutS, {
      min: 0.01,
      max: 600,
    }),
    shutdownDeadlineS: reader.number("SHUTDOWN_DEADLINE_S", HANDLER_DEFAULTS.shutdownDeadlineS, { min: 0 }),
    isDebug: reader.boolean("DEBUG", false),
    isOtelEnabled: reader.boolean("OTEL_ENABLED", false),
    otelExportIntervalS: reader.duration("OTEL_EXPORT_INTERVAL", HANDLER_DEFAULTS.otelExportIntervalS),
    hostname: env.HOSTNAME?.trim() || null,
  };
  const { decodedBodyBytesMax, requestsMemoryBytesMax } = config.limits;
  if (requestsMemoryBytesMax < BYTES_HELD_PER_DECODED_BYTE * decodedBodyBytesMax) {
    problems.push(
      `REQUESTS_MEMORY_BYTES_MAX: ${requestsMemoryBytesMax} is less than ${BYTES_HELD_PER_DECODED_BYTE} × ` +
        `DECODED_BODY_BYTES_MAX (${BYTES_HELD_PER_DECODED_BYTE * decodedBodyBytesMax}), so a batch of the largest ` +
        `decoded size could never be taken`,
    );
  }
  if (config.otelExportIntervalS <= 0 && env.OTEL_EXPORT_INTERVAL !== undefined) {
    problems.push("OTEL_EXPORT_INTERVAL: must be longer than 0");
  }
  if (problems.length > 0) throw new ConfigError(problems, { component: "handler" });
  return config;
}

function readTokenHashes(env: Env, problems: string[]): ClusterTokenHash[] {
  const hashes: ClusterTokenHash[] = [];
  const inline = env.CLUSTER_TOKEN_HASHES?.trim();
  if (inline) {
    const source = "CLUSTER_TOKEN_HASHES";
    hashes.push(...refusePublished(parseTokenHashes(inline, { source, problems }), { source, problems }));
  }
  const path = env.CLUSTER_TOKEN_HASHES_FILE?.trim();
  if (path) {
    try {
      const text = Deno.readTextFileSync(path);
      const source = `CLUSTER_TOKEN_HASHES_FILE (${path})`;
      hashes.push(...refusePublished(parseTokenHashes(text, { source, problems }), { source, problems }));
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

/** `entries` without the hashes of published tokens; one problem for each left out (naming its cluster). */
function refusePublished(
  entries: ClusterTokenHash[],
  options: { source: string; problems: string[] },
): ClusterTokenHash[] {
  return entries.filter((entry) => {
    const publisher = PUBLISHED_TOKEN_HASHES.get(entry.sha256Hex);
    if (publisher === undefined) return true;
    options.problems.push(
      `${options.source}: the hash for cluster "${entry.cluster}" is that of the example token published in ` +
        `${publisher}, with which anyone can write: make a new token (handler/README.md, "Making a token")`,
    );
    return false;
  });
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
    partitionsAheadDays: config.partitionsAheadDays,
    partitionLockTimeoutS: config.partitionLockTimeoutS,
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
