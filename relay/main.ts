/**
 * The relay process: read the configuration, build the parts, serve the probes, run until SIGTERM or SIGINT.
 */
import { createLogger, describeError, type Logger } from "../shared/telemetry/log.ts";
import { createPrometheusTelemetry, type PrometheusTelemetry } from "../shared/telemetry/prometheus_meter.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../shared/telemetry/prometheus_text.ts";
import { detectClusterName } from "./kube/cluster_name.ts";
import { loadRelayConfig, toLoggableConfig } from "./config.ts";
import { ConfigError } from "../shared/env_reader.ts";
import { startHealthServer } from "./health_server.ts";
import { createKubeClient } from "./kube/kube_client.ts";
import { createRelayMetrics } from "./metrics.ts";
import { createRelay } from "./relay.ts";
import { createTokenReader } from "./send/token_reader.ts";

/** `service.name` of the relay's metrics. */
const RELAY_SERVICE_NAME = "events-ingester-relay";

/** Runs the relay; resolves with the process exit code. */
export async function main(env: Record<string, string | undefined> = Deno.env.toObject()): Promise<number> {
  let config;
  try {
    config = loadRelayConfig(env, { hostname: Deno.hostname() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(JSON.stringify({ time: new Date().toISOString(), level: "error", msg: error.message }));
    return 2;
  }
  const logger = createLogger({ isDebug: config.isDebug }, { component: "relay" });
  logger.info("configuration", toLoggableConfig(config));
  const shutdown = new AbortController();
  const onSignal = () => {
    logger.info("shutdown requested");
    shutdown.abort();
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  const removeForcedGcHook = installForcedGcHook();
  let kube;
  try {
    kube = await createKubeClient({ connection: config.kube, env });
  } catch (error) {
    logger.error("cannot start", { error: describeError(error) });
    return 2;
  }
  const telemetry = await createRelayTelemetry(config, logger);
  const metrics = createRelayMetrics(telemetry.meter);
  const probesStop = new AbortController();
  try {
    const cluster = config.clusterName ??
      await detectClusterName({ kube, logger, signal: shutdown.signal, backoffMaxMs: config.retryBackoffMaxMs });
    const relay = createRelay({
      config,
      cluster,
      kube,
      readToken: createTokenReader(config.handlerToken),
      logger: logger.with({ cluster }),
      metrics,
    });
    const probes = startHealthServer({
      port: config.healthPort,
      state: relay.health,
      signal: probesStop.signal,
      metrics: { contentType: PROMETHEUS_CONTENT_TYPE, render: () => telemetry.renderPrometheus() },
    });
    logger.info("probes listening", { port: probes.port });
    if (config.isDebug) {
      const mib = (bytes: number) => Math.round(bytes / 104857.6) / 10;
      const memoryTimer = setInterval(() => {
        const usage = Deno.memoryUsage();
        logger.debug("memory", {
          rssMib: mib(usage.rss),
          heapUsedMib: mib(usage.heapUsed),
          heapTotalMib: mib(usage.heapTotal),
          externalMib: mib(usage.external),
        });
      }, 1_000);
      shutdown.signal.addEventListener("abort", () => clearInterval(memoryTimer), { once: true });
    }
    await relay.run(shutdown.signal);
    return 0;
  } catch (error) {
    if (shutdown.signal.aborted) return 0;
    logger.error("relay failed", { error: describeError(error) });
    return 1;
  } finally {
    probesStop.abort();
    kube.close();
    await telemetry.shutdown();
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
    removeForcedGcHook?.();
  }
}

/**
 * The OpenTelemetry SDK and its exporters only when OTLP is enabled: they hold about 8 MiB of code and state, a sixth
 * of an idle standby. Without OTLP the SDK-free meter serves the same `/metrics` text.
 */
async function createRelayTelemetry(
  config: { isOtelEnabled: boolean; otelExportIntervalS: number },
  logger: Logger,
): Promise<PrometheusTelemetry> {
  if (!config.isOtelEnabled) return createPrometheusTelemetry({ serviceName: RELAY_SERVICE_NAME, logger });
  const { createTelemetry } = await import("../shared/telemetry/telemetry.ts");
  return createTelemetry({
    serviceName: RELAY_SERVICE_NAME,
    isOtelEnabled: true,
    otelExportIntervalMs: Math.max(1, Math.round(config.otelExportIntervalS * 1000)),
    logger,
  });
}

/**
 * Only when V8 exposes `gc` (`--v8-flags=--expose-gc`, which the benchmark adds and nothing shipped sets): SIGUSR2 runs
 * a full collection, so that the benchmark reads the resident size of live data rather than of garbage not collected
 * yet. Returns the function that removes the listener, or undefined when there is no `gc`.
 */
export function installForcedGcHook(): (() => void) | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return undefined;
  const onSignal = () => gc();
  Deno.addSignalListener("SIGUSR2", onSignal);
  return () => Deno.removeSignalListener("SIGUSR2", onSignal);
}

if (import.meta.main) Deno.exit(await main());
