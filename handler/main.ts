/**
 * Container start path: `deno run … --allow-net --allow-env --allow-read=… handler/main.ts` (the command of
 * deploy/handler/Dockerfile). Loads the configuration (failing with every problem),
 * waits for the database up to DB_READY_TIMEOUT, migrates, serves on PORT; on SIGTERM or SIGINT stops accepting,
 * finishes requests in flight within SHUTDOWN_DEADLINE_S, closes the pool and stops telemetry (pushing the last
 * OTLP export when OTEL_ENABLED), both bounded, so the whole stop fits `toStopBoundS` (28 s by default).
 * Exits 2 when the configuration or a missing `--allow-*` permission refuses the start (logged), 1 when the database
 * is not ready in time. Only wiring.
 */
import { createLogger, describeError } from "../shared/telemetry/log.ts";
import { ConfigError } from "../shared/env_reader.ts";
import { serveApp, type ServingApp } from "./http/server.ts";
import { isPermissionError, PERMISSION_DENIED_MESSAGE, prepareHandler, startUpkeep } from "./start.ts";

/** Exit code for a start refused by the configuration or the process's permissions: the deployment needs fixing. */
const EXIT_CONFIG = 2;

/**
 * The whole environment, or null after logging why it cannot be read: the handler reads every variable it knows and
 * the OTLP exporter's, so `--allow-env` must not be narrowed to a list of names.
 */
function readEnvironment(): Record<string, string> | null {
  try {
    return Deno.env.toObject();
  } catch (error) {
    if (!isPermissionError(error)) throw error;
    createLogger({ isDebug: false }).error(PERMISSION_DENIED_MESSAGE, {
      problem: "Cannot read the environment: run with --allow-env (all variables, not a list of names)",
      error: describeError(error),
    });
    return null;
  }
}

/** Runs the handler until a signal; returns the process exit code. */
export async function main(): Promise<number> {
  const env = readEnvironment();
  if (env === null) return EXIT_CONFIG;
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    let prepared;
    try {
      prepared = await prepareHandler(env, { signal: controller.signal });
    } catch (error) {
      // prepareHandler has logged the reason (each configuration problem, a missing permission, or the database).
      return error instanceof ConfigError || isPermissionError(error) ? EXIT_CONFIG : 1;
    }
    const { app, config, store, telemetry, logger } = prepared;
    let serving: ServingApp;
    try {
      serving = serveApp({
        app,
        port: config.port,
        shutdownDeadlineS: config.shutdownDeadlineS,
        logger,
        signal: controller.signal,
      });
    } catch (error) {
      if (!isPermissionError(error)) throw error;
      logger.error(PERMISSION_DENIED_MESSAGE, {
        problem: `Cannot listen on port ${config.port}: run with --allow-net`,
        error: describeError(error),
      });
      await Promise.all([store.close(), telemetry.shutdown()]);
      return EXIT_CONFIG;
    }
    startUpkeep(prepared, controller.signal);
    const { isDrained } = await serving.finished;
    // After the drain, so the last OTLP push carries the last requests.
    await Promise.all([store.close(), telemetry.shutdown()]);
    logger.info("stopped", { isDrained });
    return 0;
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main());
