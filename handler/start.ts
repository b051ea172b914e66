/**
 * The handler's start sequence, shared by `main.ts` (container) and `serve.ts` (`deno serve`): configuration,
 * logger, telemetry, store, wait for the database, migrations, application (with `GET /metrics` and its observer).
 */
import { createLogger, describeError, type Logger } from "../shared/telemetry/log.ts";
import { createTelemetry, type Telemetry, TELEMETRY_SHUTDOWN_TIMEOUT_MS } from "../shared/telemetry/telemetry.ts";
import { type App, createApp } from "./http/app.ts";
import { type HandlerConfig, loadHandlerConfig, toLoggableConfig } from "./config.ts";
import { ConfigError } from "../shared/env_reader.ts";
import { createHandlerMetrics } from "./metrics.ts";
import { createMemoryBudget } from "./http/events/memory_budget.ts";
import { createPostgresStore, POOL_CLOSE_TIMEOUT_S, type PostgresStore } from "./store/postgres_store.ts";
import { isBudgetWithinHeap } from "./http/events/memory_budget.ts";
import v8 from "node:v8";
import { ensurePartitionsAhead, startPartitionsAhead } from "./store/schema/partitions_ahead.ts";
import { startRetention } from "./store/schema/retention.ts";

/**
 * Longest time in seconds from SIGTERM to exit: requests in flight get `shutdownDeadlineS`, then the pool closes
 * (POOL_CLOSE_TIMEOUT_S) while the last OTLP push is made (TELEMETRY_SHUTDOWN_TIMEOUT_MS), both at once. The pod's
 * terminationGracePeriodSeconds must be longer (25 + 3 = 28 s with the defaults, inside Kubernetes' 30 s).
 */
export function toStopBoundS(shutdownDeadlineS: number): number {
  return shutdownDeadlineS + Math.max(POOL_CLOSE_TIMEOUT_S, TELEMETRY_SHUTDOWN_TIMEOUT_MS / 1000);
}

/** The log message of a start refused because a `--allow-*` permission is missing (the process exits 2). */
export const PERMISSION_DENIED_MESSAGE = "cannot start: permission denied";

/** True for the error Deno throws when a `--allow-*` permission is missing. */
export function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

/** `service.name` of the handler's metrics (`target_info{service_name=...}`, the OTLP resource). */
const HANDLER_SERVICE_NAME = "events-ingester-handler";

/** A handler ready to serve: its store is reachable and migrated, its metrics are recorded. */
export interface PreparedHandler {
  config: HandlerConfig;
  logger: Logger;
  store: PostgresStore;
  /** Serves `GET /metrics` through the app; pushes OTLP when OTEL_ENABLED. Shut it down after the store closes. */
  telemetry: Telemetry;
  app: App;
  /** The retention in force: RETENTION_DAYS, else the default for who made `k8s_events` (0 when adopted). */
  retentionDays: number;
}

/** Cancellation and log sink for the start sequence. */
export interface PrepareHandlerOptions {
  /** Aborts the wait for the database. */
  signal?: AbortSignal;
  /** Receives each log line; stdout when omitted. */
  write?: (line: string) => void;
  /**
   * True for a `deno serve` worker, which may share its HOSTNAME with other workers of the same process
   * (`--parallel`): its service.instance.id gets a random suffix.
   */
  isWorker?: boolean;
}

/**
 * The handler's `service.instance.id`: HOSTNAME (the pod name, stable across the pod's restarts) when set, with a
 * random suffix for a `deno serve` worker (`isWorker`), else a random UUID per process.
 */
export function toServiceInstanceId(
  hostname: string | null,
  options: { isWorker?: boolean; randomUuid?: () => string } = {},
): string {
  const randomUuid = options.randomUuid ?? (() => crypto.randomUUID());
  if (hostname === null) return randomUuid();
  return options.isWorker ? `${hostname}-${randomUuid().slice(0, 8)}` : hostname;
}

/**
 * Logs warning MEMORY_BUDGET_OVER_HEAP when REQUESTS_MEMORY_BYTES_MAX is more than half of V8's heap limit: the
 * process was started without a `--max-old-space-size` that fits the budget (the image's command has one).
 */
export function warnWhenBudgetPassesHeap(
  config: HandlerConfig,
  logger: Logger,
  heapSizeLimitBytes = v8.getHeapStatistics().heap_size_limit,
): void {
  const { requestsMemoryBytesMax } = config.limits;
  if (isBudgetWithinHeap(requestsMemoryBytesMax, heapSizeLimitBytes)) return;
  logger.warn("memory budget is more than half of the V8 heap: raise --max-old-space-size", {
    code: "MEMORY_BUDGET_OVER_HEAP",
    requestsMemoryBytesMax,
    heapSizeLimitBytes,
  });
}

/** OTEL_EXPORT_INTERVAL (seconds, possibly fractional) as the whole milliseconds the SDK takes; at least 1. */
export function toOtelExportIntervalMs(otelExportIntervalS: number): number {
  return Math.max(1, Math.round(otelExportIntervalS * 1000));
}

/**
 * Loads the configuration from `env` (throws ConfigError listing every problem, after logging them), logs the
 * effective configuration with secrets redacted, starts telemetry (OTLP push when OTEL_ENABLED; throws what
 * createTelemetry throws, after logging it), waits up to DB_READY_TIMEOUT for the database, applies the migrations
 * and builds the app with `GET /metrics`. On any failure after the store exists, the store is closed and telemetry
 * shut down before rethrowing.
 */
export async function prepareHandler(
  env: Record<string, string | undefined>,
  options: PrepareHandlerOptions = {},
): Promise<PreparedHandler> {
  let config: HandlerConfig;
  try {
    config = loadHandlerConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      const logger = createLogger({ isDebug: false, write: options.write });
      for (const problem of error.problems) logger.error("invalid configuration", { problem });
    }
    throw error;
  }
  const logger = createLogger({ isDebug: config.isDebug, write: options.write });
  logger.info("configuration", toLoggableConfig(config));
  warnWhenBudgetPassesHeap(config, logger);
  let telemetry: Telemetry;
  try {
    telemetry = createTelemetry({
      serviceName: HANDLER_SERVICE_NAME,
      serviceInstanceId: toServiceInstanceId(config.hostname, { isWorker: options.isWorker }),
      isOtelEnabled: config.isOtelEnabled,
      otelExportIntervalMs: toOtelExportIntervalMs(config.otelExportIntervalS),
      logger,
    });
  } catch (error) {
    logger.error(isPermissionError(error) ? PERMISSION_DENIED_MESSAGE : "cannot start: telemetry", {
      error: describeError(error),
    });
    throw error;
  }
  const store = createPostgresStore({
    url: config.databaseUrl,
    schema: config.dbSchema,
    poolMax: config.dbPoolMax,
    retentionDays: config.retentionDays,
    partitionLockTimeoutS: config.partitionLockTimeoutS,
    connectTimeoutS: config.dbConnectTimeoutS,
    logger,
  });
  let retentionDays: number;
  try {
    await store.waitUntilReachable({ timeoutS: config.dbReadyTimeoutS, signal: options.signal });
    const state = await store.migrate();
    retentionDays = state.retentionDays;
    logger.info("retention", {
      retentionDays,
      source: state.retentionSource,
      eventsTableOrigin: state.eventsTableOrigin,
    });
  } catch (error) {
    logger.error(isPermissionError(error) ? PERMISSION_DENIED_MESSAGE : "cannot start: database not ready", {
      error: describeError(error),
    });
    await store.close();
    await telemetry.shutdown();
    throw error;
  }
  await prepareFirstPartitions({ store, partitionsAheadDays: config.partitionsAheadDays, logger });
  const memory = createMemoryBudget(config.limits);
  const metrics = createHandlerMetrics(telemetry.meter);
  metrics.observeMemoryBudget(() => memory.usedBytes);
  const app = createApp({
    config,
    store,
    logger,
    memory,
    observer: metrics,
    renderMetrics: () => telemetry.renderPrometheus(),
  });
  return { config, logger, store, telemetry, app, retentionDays };
}

/**
 * Makes today's partition and the next days' (PARTITIONS_AHEAD_DAYS) before the first request. A failure is logged
 * and the start goes on: each write creates a missing day itself, and the hourly run tries again.
 */
async function prepareFirstPartitions(
  options: { store: PostgresStore; partitionsAheadDays: number; logger: Logger },
): Promise<void> {
  try {
    await ensurePartitionsAhead({ ...options, now: new Date() });
  } catch (error) {
    options.logger.warn("partitions ahead of need not made at start; the hourly run tries again", {
      error: describeError(error),
    });
  }
}

/**
 * Starts the background upkeep of a prepared handler until `signal` aborts: retention (when in force) and the
 * partitions ahead of need, each now and then every hour.
 */
export function startUpkeep(prepared: PreparedHandler, signal: AbortSignal): void {
  const { store, logger, config, retentionDays } = prepared;
  startRetention({ store, retentionDays, logger, signal });
  startPartitionsAhead({ store, partitionsAheadDays: config.partitionsAheadDays, logger, signal });
}
