/**
 * The handler as a `deno serve` module (`deno serve -A handler/serve.ts`, also with `--parallel`): configuration
 * from the environment, the database waited for and migrated before the first request (each worker runs the
 * migrations; they take an advisory lock, so the first applies them and the others find them done).
 *
 * On SIGTERM or SIGINT `deno serve` stops accepting connections; this module waits for requests in flight (up to
 * SHUTDOWN_DEADLINE_S), then closes the database pool, whose open sockets would otherwise keep the process alive,
 * and stops telemetry (the last OTLP push when OTEL_ENABLED). Each worker of `--parallel` has its own metrics: a
 * scrape of `/metrics` reaches one of them, and its own `service.instance.id` (HOSTNAME plus a random suffix) in OTLP.
 */
import { createInFlight } from "./http/in_flight.ts";
import { startRetention } from "./store/schema/retention.ts";
import { prepareHandler } from "./start.ts";

const { app, config, store, telemetry, logger } = await prepareHandler(Deno.env.toObject(), { isWorker: true });
const stopping = new AbortController();
const inFlight = createInFlight();
startRetention({ store, retentionDays: config.retentionDays, logger, signal: stopping.signal });

const stop = async () => {
  if (stopping.signal.aborted) return;
  stopping.abort();
  const isDrained = await inFlight.waitUntilIdle(config.shutdownDeadlineS);
  // After the drain, so the last OTLP push carries the last requests.
  await Promise.all([store.close(), telemetry.shutdown()]);
  logger.info("stopped", { isDrained });
};
for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void stop());

/** The fetch handler `deno serve` runs. */
export default { fetch: (request: Request): Promise<Response> => inFlight.track(() => app.fetch(request)) };
