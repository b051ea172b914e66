import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { OTLP_METRICS_PATH } from "../../../shared/telemetry/telemetry.ts";

interface CollectorConfig {
  receivers: Record<string, { protocols?: { http?: { endpoint?: string } } }>;
  processors: Record<string, unknown>;
  exporters: Record<string, { endpoint?: string; resource_to_telemetry_conversion?: { enabled: boolean } }>;
  extensions: Record<string, unknown>;
  service: {
    extensions: string[];
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
}

const config = yaml.load(
  await Deno.readTextFile(new URL("../../../deploy/observability/otel-collector.yaml", import.meta.url)),
) as CollectorConfig;

Deno.test("the collector example wires every pipeline component it defines, and only those", () => {
  const { metrics } = config.service.pipelines;
  assert.ok(metrics);
  assert.deepEqual(metrics.receivers.filter((name) => !(name in config.receivers)), []);
  assert.deepEqual(metrics.processors.filter((name) => !(name in config.processors)), []);
  assert.deepEqual(metrics.exporters.filter((name) => !(name in config.exporters)), []);
  assert.deepEqual(config.service.extensions.filter((name) => !(name in config.extensions)), []);
  assert.deepEqual(Object.keys(config.service.pipelines), ["metrics"]);
});

Deno.test("the collector example receives OTLP/HTTP on 4318, where the components push /v1/metrics", () => {
  assert.equal(config.receivers.otlp?.protocols?.http?.endpoint, "0.0.0.0:4318");
  assert.equal(OTLP_METRICS_PATH, "/v1/metrics");
});

Deno.test("the collector example exposes Prometheus names without resource labels on every series", () => {
  assert.equal(config.exporters.prometheus?.endpoint, "0.0.0.0:8889");
  assert.deepEqual(config.exporters.prometheus?.resource_to_telemetry_conversion, { enabled: false });
  assert.deepEqual(config.service.pipelines.metrics?.processors, ["memory_limiter", "batch"]);
});
