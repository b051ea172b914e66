import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import {
  BYTES_BUCKETS,
  createTelemetry,
  OTLP_ENV_NAMES,
  RECORDS_BUCKETS,
  SECONDS_BUCKETS,
  type Telemetry,
  TELEMETRY_SHUTDOWN_TIMEOUT_MS,
  toOtlpMetricsUrl,
} from "../../../shared/telemetry/telemetry.ts";
import {
  ALL_METRICS,
  METRICS,
  toInstrumentOptions,
  toPrometheusName,
  UNIT_BYTES,
} from "../../../shared/telemetry/metric_names.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

async function withTelemetry(fn: (telemetry: Telemetry) => Promise<void>): Promise<void> {
  const telemetry = createTelemetry({ serviceName: "ingester-test", isOtelEnabled: false, otelExportIntervalMs: 1 });
  try {
    await fn(telemetry);
  } finally {
    await telemetry.shutdown();
  }
}

/** The sample lines (not comments) of one metric family, in output order. */
function samples(text: string, family: string): string[] {
  return text.split("\n").filter((line) =>
    line.startsWith(`${family}{`) || line.startsWith(`${family} `) || line.startsWith(`${family}_bucket{`) ||
    line.startsWith(`${family}_sum`) || line.startsWith(`${family}_count`)
  );
}

function expectedBuckets(family: string, labels: string, bounds: readonly number[], values: number[]): string[] {
  const lines = bounds.map((bound) => {
    const count = values.filter((v) => v <= bound).length;
    return `${family}_bucket{${labels}le="${bound}"} ${count}`;
  });
  lines.push(`${family}_bucket{${labels}le="+Inf"} ${values.length}`);
  return lines;
}

Deno.test("renderPrometheus exposes a counter with its Prometheus name, help, unit, type and labels", async () => {
  await withTelemetry(async (telemetry) => {
    const spec = METRICS.handlerRejectedLines;
    const counter = telemetry.meter.createCounter(spec.name, toInstrumentOptions(spec));
    counter.add(2, { cluster: "prod-a", code: "INVALID_JSON" });
    counter.add(1, { cluster: "prod-a", code: "INVALID_JSON" });
    counter.add(4, { cluster: "prod-b", code: "MISSING_FIELD" });
    const text = await telemetry.renderPrometheus();
    const name = "events_ingester_handler_rejected_lines_total";
    assert.equal(toPrometheusName(spec), name);
    assert.ok(text.includes(`# HELP ${name} ${spec.description}\n# UNIT ${name} {line}\n# TYPE ${name} counter\n`));
    assert.deepEqual(samples(text, name), [
      `${name}{cluster="prod-a",code="INVALID_JSON"} 3`,
      `${name}{cluster="prod-b",code="MISSING_FIELD"} 4`,
    ]);
  });
});

Deno.test("renderPrometheus gives histograms in seconds second-scale buckets", async () => {
  await withTelemetry(async (telemetry) => {
    const spec = METRICS.commitLag;
    const histogram = telemetry.meter.createHistogram(spec.name, toInstrumentOptions(spec));
    const values = [0.004, 0.2, 1.5, 42, 5000];
    for (const value of values) histogram.record(value, { cluster: "prod-a" });
    const text = await telemetry.renderPrometheus();
    const name = "events_ingester_handler_commit_lag_seconds";
    assert.ok(text.includes(`# UNIT ${name} s\n# TYPE ${name} histogram\n`));
    assert.deepEqual(samples(text, name), [
      `${name}_count{cluster="prod-a"} 5`,
      `${name}_sum{cluster="prod-a"} 5043.704`,
      ...expectedBuckets(name, 'cluster="prod-a",', SECONDS_BUCKETS, values),
    ]);
    assert.equal(SECONDS_BUCKETS[0], 0.001);
    assert.equal(SECONDS_BUCKETS.at(-1), 3600);
  });
});

Deno.test("renderPrometheus gives record-count and byte histograms their own buckets", async () => {
  await withTelemetry(async (telemetry) => {
    const size = telemetry.meter.createHistogram(
      METRICS.relayBatchRecords.name,
      toInstrumentOptions(METRICS.relayBatchRecords),
    );
    const bytes = telemetry.meter.createHistogram("test.payload_bytes", { unit: UNIT_BYTES });
    size.record(5000);
    size.record(3);
    bytes.record(70_000);
    const text = await telemetry.renderPrometheus();
    assert.deepEqual(
      samples(text, "events_ingester_relay_batch_records").slice(2),
      expectedBuckets("events_ingester_relay_batch_records", "", RECORDS_BUCKETS, [5000, 3]),
    );
    assert.deepEqual(
      samples(text, "test_payload_bytes").slice(2),
      expectedBuckets("test_payload_bytes", "", BYTES_BUCKETS, [70_000]),
    );
  });
});

Deno.test("renderPrometheus exposes every catalogue metric under toPrometheusName", async () => {
  await withTelemetry(async (telemetry) => {
    for (const spec of ALL_METRICS) {
      const options = toInstrumentOptions(spec);
      if (spec.kind === "counter") telemetry.meter.createCounter(spec.name, options).add(1);
      else if (spec.kind === "histogram") telemetry.meter.createHistogram(spec.name, options).record(1);
      else telemetry.meter.createGauge(spec.name, options).record(7);
    }
    const text = await telemetry.renderPrometheus();
    for (const spec of ALL_METRICS) {
      const name = toPrometheusName(spec);
      const type = spec.kind === "counter" ? "counter" : spec.kind === "histogram" ? "histogram" : "gauge";
      assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `missing ${name}`);
      const value = spec.kind === "gauge" ? "7" : "1";
      const sample = spec.kind === "histogram" ? `${name}_count 1` : `${name} ${value}`;
      assert.ok(text.split("\n").includes(sample), `missing sample ${sample}`);
    }
  });
});

Deno.test("renderPrometheus names the service and its instance in target_info and adds no scope labels", async () => {
  const telemetry = createTelemetry({
    serviceName: "ingester-test",
    serviceInstanceId: "handler-7f9c-abcde",
    isOtelEnabled: false,
    otelExportIntervalMs: 1,
  });
  try {
    telemetry.meter.createCounter(METRICS.relayBookmarks.name, toInstrumentOptions(METRICS.relayBookmarks)).add(1);
    const text = await telemetry.renderPrometheus();
    assert.ok(
      text.startsWith(
        "# HELP target_info Target metadata\n# TYPE target_info gauge\n" +
          'target_info{service_name="ingester-test",service_instance_id="handler-7f9c-abcde"} 1\n',
      ),
      text.slice(0, 200),
    );
    assert.ok(text.split("\n").includes("events_ingester_relay_bookmarks_total 1"));
    assert.equal(text.includes("otel_scope_name"), false);
  } finally {
    await telemetry.shutdown();
  }
});

Deno.test("createTelemetry gives each instance a random UUID as service.instance.id when none is given", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    await withTelemetry(async (telemetry) => {
      const text = await telemetry.renderPrometheus();
      const match = /^target_info\{service_name="ingester-test",service_instance_id="([^"]+)"\} 1$/m.exec(text);
      assert.ok(match, text.slice(0, 200));
      ids.push(match[1]!);
    });
  }
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(ids[0], ids[1]);
});

interface OtlpCapture {
  url: string;
  requests: { path: string; contentType: string | null; body: OtlpBody }[];
  firstRequest: Promise<void>;
  close(): Promise<void>;
}

interface OtlpBody {
  resourceMetrics: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeMetrics: {
      metrics: {
        name: string;
        unit?: string;
        sum?: { dataPoints: { asDouble?: number; asInt?: string | number }[]; isMonotonic?: boolean };
        histogram?: { dataPoints: { count: string | number; explicitBounds: number[] }[] };
      }[];
    }[];
  }[];
}

/** A local OTLP/HTTP receiver that records JSON export requests and answers `status`. */
function startOtlpReceiver(status = 200): OtlpCapture {
  const requests: OtlpCapture["requests"] = [];
  const { promise: firstRequest, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    let bytes = new Uint8Array(await request.arrayBuffer());
    if (request.headers.get("content-encoding") === "gzip") bytes = new Uint8Array(gunzipSync(bytes));
    requests.push({
      path: new URL(request.url).pathname,
      contentType: request.headers.get("content-type"),
      body: JSON.parse(new TextDecoder().decode(bytes)),
    });
    resolve();
    return new Response(status === 200 ? "{}" : '{"error":"refused"}', {
      status,
      headers: { "content-type": "application/json" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    firstRequest,
    close: () => server.shutdown(),
  };
}

function findMetric(body: OtlpBody, name: string) {
  return body.resourceMetrics.flatMap((r) => r.scopeMetrics).flatMap((s) => s.metrics).find((m) => m.name === name);
}

Deno.test("createTelemetry pushes metrics over OTLP/HTTP to the configured endpoint at shutdown", async () => {
  const receiver = startOtlpReceiver();
  try {
    const telemetry = createTelemetry({
      serviceName: "ingester-otlp",
      isOtelEnabled: true,
      otelExportIntervalMs: 60_000,
      otlpEndpoint: receiver.url,
    });
    const spec = METRICS.dbInsertRows;
    telemetry.meter.createCounter(spec.name, toInstrumentOptions(spec)).add(12, { cluster: "prod-a" });
    const lag = telemetry.meter.createHistogram(METRICS.commitLag.name, toInstrumentOptions(METRICS.commitLag));
    lag.record(0.3, { cluster: "prod-a" });
    await telemetry.shutdown();
    assert.equal(receiver.requests.length, 1);
    const request = receiver.requests[0]!;
    assert.equal(request.path, "/v1/metrics");
    assert.equal(request.contentType, "application/json");
    const resource = request.body.resourceMetrics[0]!.resource.attributes;
    assert.deepEqual(resource.find((a) => a.key === "service.name")?.value, { stringValue: "ingester-otlp" });
    const rows = findMetric(request.body, "events_ingester.db.insert.rows");
    assert.equal(rows?.unit, "{row}");
    assert.equal(rows?.sum?.isMonotonic, true);
    assert.equal(rows?.sum?.dataPoints[0]?.asDouble, 12);
    const lagPoint = findMetric(request.body, "events_ingester.handler.commit_lag_seconds")?.histogram?.dataPoints[0];
    assert.deepEqual(lagPoint?.explicitBounds, [...SECONDS_BUCKETS]);
    assert.equal(Number(lagPoint?.count), 1);
  } finally {
    await receiver.close();
  }
});

Deno.test("createTelemetry pushes every otelExportIntervalMs while running", async () => {
  const receiver = startOtlpReceiver();
  const telemetry = createTelemetry({
    serviceName: "ingester-otlp",
    isOtelEnabled: true,
    otelExportIntervalMs: 50,
    otlpEndpoint: `${receiver.url}/v1/metrics`,
  });
  try {
    telemetry.meter.createCounter(METRICS.relayRelists.name, toInstrumentOptions(METRICS.relayRelists)).add(1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      receiver.firstRequest,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("no OTLP push within 5 s")), 5000);
      }),
    ]).finally(() => clearTimeout(timer));
    const first = receiver.requests[0]!;
    assert.equal(first.path, "/v1/metrics");
    assert.equal(findMetric(first.body, "events_ingester.relay.relists")?.sum?.dataPoints[0]?.asDouble, 1);
  } finally {
    await telemetry.shutdown();
    await receiver.close();
  }
});

Deno.test("createTelemetry does not push when OTLP is disabled", async () => {
  const receiver = startOtlpReceiver();
  try {
    const telemetry = createTelemetry({
      serviceName: "ingester-otlp",
      isOtelEnabled: false,
      otelExportIntervalMs: 10,
      otlpEndpoint: receiver.url,
    });
    telemetry.meter.createCounter(METRICS.relayRelists.name, toInstrumentOptions(METRICS.relayRelists)).add(1);
    await telemetry.renderPrometheus();
    await telemetry.shutdown();
    assert.equal(receiver.requests.length, 0);
  } finally {
    await receiver.close();
  }
});

Deno.test("createTelemetry logs a refused OTLP push as a warning with code OTLP_EXPORT_FAILED", async () => {
  const receiver = startOtlpReceiver(400);
  const lines: string[] = [];
  try {
    const telemetry = createTelemetry({
      serviceName: "ingester-otlp",
      isOtelEnabled: true,
      otelExportIntervalMs: 60_000,
      otlpEndpoint: receiver.url,
      logger: createLogger({ isDebug: false, write: (line) => lines.push(line) }),
    });
    telemetry.meter.createCounter(METRICS.relayRelists.name, toInstrumentOptions(METRICS.relayRelists)).add(1);
    await telemetry.shutdown();
    assert.equal(receiver.requests.length, 1);
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.level, "warn");
    assert.equal(entry.msg, "Cannot push metrics over OTLP");
    assert.equal(entry.code, "OTLP_EXPORT_FAILED");
  } finally {
    await receiver.close();
  }
});

/** A collector that accepts connections and reads requests but never answers; `close()` drops every connection. */
function startSilentCollector(): { url: string; connections: () => number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  void (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      // Read and discard, so the client's request is fully sent and then waits for an answer that never comes.
      conn.readable.pipeTo(new WritableStream()).catch(() => {
        // The connection is dropped by close(); nothing is left to read.
      });
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    connections: () => conns.length,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch (error) {
          // Already closed by the client; that is the state close() wants.
          if (!(error instanceof Deno.errors.BadResource)) throw error;
        }
      }
    },
  };
}

Deno.test("TELEMETRY_SHUTDOWN_TIMEOUT_MS is 3 s", () => {
  assert.equal(TELEMETRY_SHUTDOWN_TIMEOUT_MS, 3_000);
});

Deno.test({
  name:
    "createTelemetry shutdown gives up the last push after shutdownTimeoutMs when the collector is silent, and logs it",
  // The abandoned request is still open when shutdown() returns (that is the point); it ends when the collector
  // drops the connection, after the test's own assertions.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const collector = startSilentCollector();
    const lines: string[] = [];
    try {
      const telemetry = createTelemetry({
        serviceName: "ingester-otlp",
        isOtelEnabled: true,
        otelExportIntervalMs: 60_000,
        otlpEndpoint: collector.url,
        logger: createLogger({ isDebug: false, write: (line) => lines.push(line) }),
        shutdownTimeoutMs: 300,
      });
      telemetry.meter.createCounter(METRICS.relayRelists.name, toInstrumentOptions(METRICS.relayRelists)).add(1);
      const started = performance.now();
      await telemetry.shutdown();
      const elapsedMs = performance.now() - started;
      assert.ok(elapsedMs >= 290 && elapsedMs < 2_000, `shutdown took ${elapsedMs} ms`);
      assert.equal(collector.connections(), 1);
      const entries = lines.map((line) => JSON.parse(line));
      assert.deepEqual(entries.map((e) => [e.level, e.code, e.timeoutMs]), [["warn", "OTLP_SHUTDOWN_FAILED", 300]]);
      // A second call returns the same settled shutdown at once.
      const again = performance.now();
      await telemetry.shutdown();
      assert.ok(performance.now() - again < 50);
    } finally {
      collector.close();
    }
  },
});

Deno.test("createTelemetry refuses an export interval that is not a positive integer", () => {
  assert.throws(
    () => createTelemetry({ serviceName: "x", isOtelEnabled: true, otelExportIntervalMs: 0 }),
    new RangeError("Cannot push metrics every 0 ms: the interval must be a positive integer"),
  );
});

Deno.test("toOtlpMetricsUrl appends /v1/metrics to a base endpoint once", () => {
  assert.equal(toOtlpMetricsUrl("http://collector:4318"), "http://collector:4318/v1/metrics");
  assert.equal(toOtlpMetricsUrl("http://collector:4318/"), "http://collector:4318/v1/metrics");
  assert.equal(toOtlpMetricsUrl("https://otel.example/v1/metrics"), "https://otel.example/v1/metrics");
  assert.equal(toOtlpMetricsUrl("https://otel.example/prefix"), "https://otel.example/prefix/v1/metrics");
});

Deno.test("toOtlpMetricsUrl refuses a value that is not an http(s) URL", () => {
  assert.throws(
    () => toOtlpMetricsUrl("collector:4318"),
    new TypeError('Cannot use OTLP endpoint "collector:4318": the scheme must be http or https'),
  );
  assert.throws(() => toOtlpMetricsUrl("not a url"), TypeError);
});

Deno.test("OTLP_ENV_NAMES lists the standard OTLP exporter variables for --allow-env", () => {
  assert.equal(OTLP_ENV_NAMES.length, 15);
  assert.ok(OTLP_ENV_NAMES.includes("OTEL_EXPORTER_OTLP_ENDPOINT"));
  assert.ok(OTLP_ENV_NAMES.includes("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY"));
  assert.ok(OTLP_ENV_NAMES.includes("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"));
});

Deno.test("createTelemetry with OTLP enabled refuses to start without env access to OTLP_ENV_NAMES", async () => {
  const telemetryUrl = new URL("../../../shared/telemetry/telemetry.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ prefix: "telemetry-permissions-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { createTelemetry } from ${JSON.stringify(telemetryUrl)};
try {
  createTelemetry({ serviceName: "x", isOtelEnabled: true, otelExportIntervalMs: 1000 });
} catch (error) {
  console.log((error as Error).name + ": " + (error as Error).message);
}
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config",
        new URL("../../../deno.json", import.meta.url).pathname,
        "--allow-read",
        "--allow-env=OTEL_EXPORTER_OTLP_ENDPOINT",
        script,
      ],
      stdin: "null",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const denied = OTLP_ENV_NAMES.filter((name) => name !== "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert.equal(
      new TextDecoder().decode(output.stdout),
      `NotCapable: Cannot push metrics over OTLP: the exporter reads ${
        denied.join(", ")
      }; allow them with --allow-env\n`,
    );
  } finally {
    await Deno.remove(script);
  }
});
