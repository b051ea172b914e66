/**
 * Container start path: `deno run -A handler/main.ts`. Loads the configuration (failing with every problem),
 * waits for the database up to DB_READY_TIMEOUT, migrates, serves on PORT; on SIGTERM or SIGINT stops accepting,
 * finishes requests in flight within SHUTDOWN_DEADLINE_S, closes the pool and stops telemetry (pushing the last
 * OTLP export when OTEL_ENABLED). Only wiring.
 */
import { ConfigError } from "./config.ts";
import { startRetention } from "./retention.ts";
import { serveApp } from "./server.ts";
import { prepareHandler } from "./start.ts";

/** Runs the handler until a signal; returns the process exit code. */
export async function main(): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  let prepared;
  try {
    prepared = await prepareHandler(Deno.env.toObject(), { signal: controller.signal });
  } catch (error) {
    // prepareHandler has logged the reason (each configuration problem, or the database failure).
    return error instanceof ConfigError ? 2 : 1;
  }
  const { app, config, store, telemetry, logger } = prepared;
  startRetention({ store, retentionDays: config.retentionDays, logger, signal: controller.signal });
  const serving = serveApp({
    app,
    port: config.port,
    shutdownDeadlineS: config.shutdownDeadlineS,
    logger,
    signal: controller.signal,
  });
  const { isDrained } = await serving.finished;
  // After the drain, so the last OTLP push carries the last requests.
  await Promise.all([store.close(), telemetry.shutdown()]);
  logger.info("stopped", { isDrained });
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
