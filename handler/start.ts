/**
 * The handler's start sequence, shared by `main.ts` (container) and `serve.ts` (`deno serve`): configuration,
 * logger, store, wait for the database, migrations, application.
 */
import { createLogger, describeError, type Logger } from "../shared/log.ts";
import { type App, createApp } from "./app.ts";
import { ConfigError, type HandlerConfig, loadHandlerConfig, toLoggableConfig } from "./config.ts";
import { createPostgresStore, type PostgresStore } from "./postgres_store.ts";

/** A handler ready to serve: its store is reachable and migrated. */
export interface PreparedHandler {
  config: HandlerConfig;
  logger: Logger;
  store: PostgresStore;
  app: App;
}

/** Cancellation and log sink for the start sequence. */
export interface PrepareHandlerOptions {
  /** Aborts the wait for the database. */
  signal?: AbortSignal;
  /** Receives each log line; stdout when omitted. */
  write?: (line: string) => void;
}

/**
 * Loads the configuration from `env` (throws ConfigError listing every problem, after logging them), logs the
 * effective configuration with secrets redacted, waits up to DB_READY_TIMEOUT for the database, applies the
 * migrations and builds the app. On any failure after the store exists, the store is closed before rethrowing.
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
  const store = createPostgresStore({
    url: config.databaseUrl,
    schema: config.dbSchema,
    poolMax: config.dbPoolMax,
    retentionDays: config.retentionDays,
    connectTimeoutS: config.dbConnectTimeoutS,
    logger,
  });
  try {
    await store.waitUntilReachable({ timeoutS: config.dbReadyTimeoutS, signal: options.signal });
    await store.migrate();
  } catch (error) {
    logger.error("cannot start: database not ready", { error: describeError(error) });
    await store.close();
    throw error;
  }
  return { config, logger, store, app: createApp({ config, store, logger }) };
}
