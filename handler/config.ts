/**
 * The handler's configuration, read from environment variables (names compatible with the existing service).
 * The only handler file that reads the environment; tests pass a plain object.
 */
import { DEFAULT_LIMITS } from "../shared/contract/limits.ts";
import type { LogFields } from "../shared/telemetry/log.ts";
import { EnvReader } from "../shared/env_reader.ts";
import { ROW_REFUSALS_MAX_DEFAULT } from "./store/write/row_isolation.ts";
import { type ClusterTokenHash, parseTokenHashes } from "./http/token_hashes.ts";
import { BYTES_HELD_PER_DECODED_BYTE } from "./http/memory_budget.ts";

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
export interface HandlerConfig {
  /** postgres:// URL, from DATABASE_URL or assembled from DB_USER, DB_PASS, DB_HOST, DB_PORT, DB_NAME, DB_PARAMS. */
  databaseUrl: string;
  dbSchema: string;
  dbReadyTimeoutS: number;
  dbConnectTimeoutS: number;
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

/** The configuration is invalid; `problems` lists every reason, one sentence each, without secret values. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[], options?: ErrorOptions) {
    super(`Cannot load handler configuration: ${problems.join("; ")}`, options);
  }
}

type Env = Record<string, string | undefined>;

/** Defaults for settings that are not limits. */
export const HANDLER_DEFAULTS = {
  dbSchema: "public",
  dbReadyTimeoutS: 60,
  dbConnectTimeoutS: 10,
  dbPoolMax: 10,
  port: 8080,
  retentionDays: 30,
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

/** True when the environment names a database (DATABASE_URL or DB_HOST); `deno task dev` starts one otherwise. */
export function isDatabaseConfigured(env: Env): boolean {
  return Boolean(env.DATABASE_URL?.trim() || env.DB_HOST?.trim());
}

/**
 * Reads and validates the handler configuration from `env`. Collects every problem and throws one ConfigError
 * listing them all. Reads the file named by CLUSTER_TOKEN_HASHES_FILE when set.
 */
export function loadHandlerConfig(env: Env): HandlerConfig {
  const problems: string[] = [];
  const reader = new EnvReader(env, problems);
  const databaseUrl = readDatabaseUrl(env, problems);
  const dbSchema = reader.text("DB_SCHEMA", HANDLER_DEFAULTS.dbSchema);
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(dbSchema)) {
    problems.push(`DB_SCHEMA: "${dbSchema.slice(0, 80)}" is not a plain SQL identifier (letters, digits, _)`);
  }
  const config: HandlerConfig = {
    databaseUrl,
    dbSchema,
    dbReadyTimeoutS: reader.duration("DB_READY_TIMEOUT", HANDLER_DEFAULTS.dbReadyTimeoutS),
    dbConnectTimeoutS: reader.number("DB_CONNECT_TIMEOUT_S", HANDLER_DEFAULTS.dbConnectTimeoutS, { min: 1 }),
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
    retentionDays: reader.integer("RETENTION_DAYS", HANDLER_DEFAULTS.retentionDays, { min: 0, max: 36500 }),
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
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function readDatabaseUrl(env: Env, problems: string[]): string {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    if (env.DB_HOST?.trim()) problems.push("DATABASE_URL and DB_HOST: set one of them, not both");
    if (!/^postgres(ql)?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
      problems.push(
        "DATABASE_URL: is not a postgres:// or postgresql:// URL (value not shown, it may hold a password)",
      );
    }
    return url;
  }
  const missing = ["DB_HOST", "DB_USER", "DB_NAME"].filter((name) => !env[name]?.trim());
  if (missing.length === 3) {
    problems.push("DATABASE_URL: is unset, and so are DB_HOST, DB_USER and DB_NAME: name the database");
    return "";
  }
  if (missing.length > 0) problems.push(`${missing.join(", ")}: must be set when DATABASE_URL is unset`);
  const port = env.DB_PORT?.trim() || "5432";
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    problems.push(`DB_PORT: "${port.slice(0, 20)}" is not a port number (1-65535)`);
  }
  const user = encodeURIComponent(env.DB_USER?.trim() ?? "");
  const password = env.DB_PASS ? `:${encodeURIComponent(env.DB_PASS)}` : "";
  const host = env.DB_HOST?.trim() ?? "";
  const name = encodeURIComponent(env.DB_NAME?.trim() ?? "");
  const params = (env.DB_PARAMS?.trim() ?? "").replace(/^\?/, "");
  const url2 = `postgres://${user}${password}@${host.includes(":") ? `[${host}]` : host}:${port}/${name}` +
    (params ? `?${params}` : "");
  if (missing.length === 0 && !URL.canParse(url2)) {
    problems.push("DB_HOST, DB_PARAMS: do not form a valid URL together with the other DB_* values");
  }
  return url2;
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
