/**
 * The one adapter for the OpenTelemetry metrics SDK. Both components build their instruments on the `Meter` it
 * returns; the Prometheus text for their own `/metrics` route comes from `renderPrometheus()` (the exporter's
 * serializer over an in-process pull reader, so no second HTTP server is started), and when OTLP is enabled a
 * periodic reader pushes the same metrics to an OTLP/HTTP receiver.
 *
 * This file does I/O only through the SDK's exporter (the OTLP push); everything else it does is wiring.
 */
import type { Meter } from "@opentelemetry/api";
import {
  AggregationType,
  InstrumentType,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
  type ViewOptions,
} from "@opentelemetry/sdk-metrics";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { UNIT_BYTES, UNIT_RECORDS, UNIT_SECONDS } from "./metric_names.ts";
import { BYTES_BUCKETS, RECORDS_BUCKETS, SECONDS_BUCKETS } from "./buckets.ts";
import { describeError, type Logger } from "./log.ts";

// Defined beside the SDK-free meter, which needs them without loading this file; exported here for the handler.
export { BYTES_BUCKETS, RECORDS_BUCKETS, SECONDS_BUCKETS } from "./buckets.ts";
export { PROMETHEUS_CONTENT_TYPE } from "./prometheus_text.ts";

/** The OTLP/HTTP path for metrics, appended to a base endpoint (as OTEL_EXPORTER_OTLP_ENDPOINT is used). */
export const OTLP_METRICS_PATH = "/v1/metrics";

/**
 * The environment variables the OTLP exporter reads when it is created (standard OTEL_EXPORTER_OTLP_* settings:
 * endpoint, headers, timeout, compression, TLS files, temporality). A process run with a narrow `--allow-env` must
 * allow these when OTLP is enabled.
 */
export const OTLP_ENV_NAMES: readonly string[] = [
  ...["", "METRICS_"].flatMap((signal) =>
    ["ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"].map((key) =>
      `OTEL_EXPORTER_OTLP_${signal}${key}`
    )
  ),
  "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
];

/** Longest wait for one periodic OTLP push. */
const EXPORT_TIMEOUT_MS_MAX = 30_000;

/**
 * Default longest wait for the last OTLP push at shutdown. Short, so that a collector that does not answer cannot
 * hold a stopping process past its grace period: the handler's stop takes at most SHUTDOWN_DEADLINE_S plus this.
 */
export const TELEMETRY_SHUTDOWN_TIMEOUT_MS = 3_000;

export interface TelemetryOptions {
  /** `service.name` of the resource, also the meter's name (for example `events-ingester-handler`). */
  serviceName: string;
  /**
   * `service.instance.id` of the resource: what tells apart the replicas (and the workers of one process) that push
   * OTLP under the same `service.name`, so their series do not overwrite each other. A random UUID when omitted.
   */
  serviceInstanceId?: string;
  /** Push metrics over OTLP/HTTP every `otelExportIntervalMs` (OTEL_ENABLED). Prometheus text is always available. */
  isOtelEnabled: boolean;
  /** Push period in milliseconds (OTEL_EXPORT_INTERVAL); a positive integer. Used only when OTLP is enabled. */
  otelExportIntervalMs: number;
  /**
   * OTLP/HTTP base endpoint (`http://collector:4318`); `/v1/metrics` is appended unless the URL already ends in it.
   * When omitted the exporter follows the standard OTEL_EXPORTER_OTLP_METRICS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT
   * variables, else `http://localhost:4318/v1/metrics`.
   */
  otlpEndpoint?: string;
  /** Receives failed OTLP pushes and collection errors (as warnings). Without it they are not reported. */
  logger?: Logger;
  /** Longest wait for the last push in `shutdown()`, in milliseconds; TELEMETRY_SHUTDOWN_TIMEOUT_MS by default. */
  shutdownTimeoutMs?: number;
}

export interface Telemetry {
  /** The meter every instrument of this process is created on. */
  meter: Meter;
  /** The current value of every instrument as Prometheus text exposition (serve with PROMETHEUS_CONTENT_TYPE). */
  renderPrometheus(): Promise<string>;
  /**
   * Pushes the last OTLP export (when enabled) and stops the SDK, waiting at most `shutdownTimeoutMs`; a push that
   * fails or takes longer is logged as a warning (code OTLP_SHUTDOWN_FAILED) and given up. Never rejects. Safe to
   * call more than once.
   */
  shutdown(): Promise<void>;
}

/** A reader that collects only when asked: the source of `/metrics`. */
class PullMetricReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The views that give histograms buckets fit for their unit (the SDK defaults are scaled for milliseconds). */
function toHistogramViews(): ViewOptions[] {
  const view = (unit: string, boundaries: readonly number[]): ViewOptions => ({
    instrumentType: InstrumentType.HISTOGRAM,
    instrumentUnit: unit,
    aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [...boundaries] } },
  });
  return [view(UNIT_SECONDS, SECONDS_BUCKETS), view(UNIT_RECORDS, RECORDS_BUCKETS), view(UNIT_BYTES, BYTES_BUCKETS)];
}

/** The OTLP metrics URL for a base endpoint: `/v1/metrics` appended unless already there. */
export function toOtlpMetricsUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw new TypeError(`Cannot use OTLP endpoint "${endpoint}": it is not a URL`, { cause: error });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Cannot use OTLP endpoint "${endpoint}": the scheme must be http or https`);
  }
  const path = url.pathname.replace(/\/+$/, "");
  if (!path.endsWith(OTLP_METRICS_PATH)) url.pathname = path + OTLP_METRICS_PATH;
  return url.toString();
}

/** Wraps the OTLP exporter so a failed push is logged instead of vanishing into the SDK's silent diag logger. */
function reportingExporter(inner: PushMetricExporter, logger: Logger | undefined): PushMetricExporter {
  return {
    export(metrics, resultCallback) {
      inner.export(metrics, (result) => {
        if (result.code !== 0) {
          logger?.warn("Cannot push metrics over OTLP", {
            code: "OTLP_EXPORT_FAILED",
            error: result.error ? describeError(result.error) : null,
          });
        }
        resultCallback(result);
      });
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    selectAggregationTemporality: inner.selectAggregationTemporality?.bind(inner),
    selectAggregation: inner.selectAggregation?.bind(inner),
  };
}

/**
 * Builds the meter provider, its Prometheus pull reader and, when `isOtelEnabled`, its OTLP push reader.
 * Throws RangeError when `otelExportIntervalMs` is not a positive integer, TypeError when `otlpEndpoint` is not an
 * http(s) URL, and Deno.errors.NotCapable when the process may not read OTLP_ENV_NAMES (all only when OTLP is
 * enabled).
 */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const pull = new PullMetricReader();
  const readers: MetricReader[] = [pull];
  if (options.isOtelEnabled) {
    const intervalMs = options.otelExportIntervalMs;
    if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
      throw new RangeError(`Cannot push metrics every ${intervalMs} ms: the interval must be a positive integer`);
    }
    const denied = OTLP_ENV_NAMES.filter((variable) =>
      Deno.permissions.querySync({ name: "env", variable }).state !== "granted"
    );
    if (denied.length > 0) {
      throw new Deno.errors.NotCapable(
        `Cannot push metrics over OTLP: the exporter reads ${denied.join(", ")}; allow them with --allow-env`,
      );
    }
    const exporter = new OTLPMetricExporter({
      // Without a url or timeout here, the standard OTEL_EXPORTER_OTLP_* variables (and their defaults) apply.
      ...(options.otlpEndpoint === undefined ? {} : { url: toOtlpMetricsUrl(options.otlpEndpoint) }),
    });
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: reportingExporter(exporter, options.logger),
        exportIntervalMillis: intervalMs,
        exportTimeoutMillis: Math.min(EXPORT_TIMEOUT_MS_MAX, intervalMs),
      }),
    );
  }
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      "service.name": options.serviceName,
      "service.instance.id": options.serviceInstanceId ?? crypto.randomUUID(),
    }),
    views: toHistogramViews(),
    readers,
  });
  // Scope labels would add otel_scope_name to every series; one meter per process makes them noise.
  const serializer = new PrometheusSerializer(undefined, false, undefined, false, true);
  let shutdownPromise: Promise<void> | undefined;

  return {
    meter: provider.getMeter(options.serviceName),
    async renderPrometheus() {
      const { resourceMetrics, errors } = await pull.collect();
      for (const error of errors) {
        // An observable callback failed; the other instruments are still exported, so the scrape goes on.
        options.logger?.warn("Cannot collect a metric", { code: "METRIC_COLLECT_FAILED", error: describeError(error) });
      }
      return serializer.serialize(resourceMetrics as ResourceMetrics);
    },
    shutdown() {
      shutdownPromise ??= shutdownWithin(provider, options.shutdownTimeoutMs ?? TELEMETRY_SHUTDOWN_TIMEOUT_MS, options);
      return shutdownPromise;
    },
  };
}

/**
 * Stops the provider (its last push included), waiting at most `timeoutMs`: the SDK's own timeout rejects but leaves
 * the request open, so the wait is bounded here too. Failures are logged, never thrown: the process is stopping,
 * and metrics are the one thing it may lose.
 */
async function shutdownWithin(
  provider: MeterProvider,
  timeoutMs: number,
  options: { logger?: Logger },
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs));
  try {
    const outcome = await Promise.race([provider.shutdown({ timeoutMillis: timeoutMs }), timeout]);
    if (outcome === "timeout") {
      options.logger?.warn("Cannot push the last metrics: no answer in time; stopping without them", {
        code: "OTLP_SHUTDOWN_FAILED",
        timeoutMs,
      });
    }
  } catch (error) {
    // Stopping goes on without the last push: the metrics of the last interval are lost, nothing else.
    options.logger?.warn("Cannot push the last metrics; stopping without them", {
      code: "OTLP_SHUTDOWN_FAILED",
      timeoutMs,
      error: describeError(error),
    });
  } finally {
    clearTimeout(timer);
  }
}
