/**
 * The SDK-free meter against the SDK path it replaces when OTLP is off: every scenario records the same calls on both
 * (`createTelemetry` of telemetry.ts, and `createPrometheusTelemetry`) and requires byte-identical text at every
 * render, so the exposition operators scrape does not depend on OTEL_ENABLED.
 */
import assert from "node:assert/strict";
import type { Counter, Gauge, Histogram, ObservableGauge } from "@opentelemetry/api";
import { createTelemetry, type Telemetry } from "../../../shared/telemetry/telemetry.ts";
import {
  createPrometheusTelemetry,
  type MetricAttributes,
  type MetricsMeter,
  type PrometheusTelemetry,
} from "../../../shared/telemetry/prometheus_meter.ts";
import { ALL_METRICS, toInstrumentOptions, UNIT_BYTES, UNIT_RECORDS } from "../../../shared/telemetry/metric_names.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

const INSTANCE_ID = "relay-0b6e";

/** Both meters, driven by one scenario. */
class Pair {
  readonly sdk: Telemetry = createTelemetry({
    serviceName: "events-ingester-relay",
    serviceInstanceId: INSTANCE_ID,
    isOtelEnabled: false,
    otelExportIntervalMs: 1,
  });
  readonly light: PrometheusTelemetry = createPrometheusTelemetry({
    serviceName: "events-ingester-relay",
    serviceInstanceId: INSTANCE_ID,
  });
  readonly texts: string[] = [];

  /** Creates the same instrument on both meters; `use` records on both. */
  both<T>(create: (meter: MetricsMeter) => T): [T, T] {
    return [create(this.sdk.meter), create(this.light.meter)];
  }

  /** Renders both and requires the same text; returns it. */
  async render(): Promise<string> {
    const expected = await this.sdk.renderPrometheus();
    const actual = await this.light.renderPrometheus();
    assert.equal(actual, expected);
    this.texts.push(actual);
    return actual;
  }

  async close(): Promise<void> {
    await this.sdk.shutdown();
    await this.light.shutdown();
  }
}

async function withPair(fn: (pair: Pair) => Promise<void>): Promise<void> {
  const pair = new Pair();
  try {
    await fn(pair);
  } finally {
    await pair.close();
  }
}

/** A deterministic PRNG (mulberry32), so a failing random scenario can be replayed. */
function createRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("createPrometheusTelemetry renders target_info alone as the SDK does when nothing was recorded", async () => {
  await withPair(async (pair) => {
    pair.both((meter) => meter.createCounter("events_ingester.relay.bookmarks"));
    pair.both((meter) => meter.createHistogram("events_ingester.relay.send.duration_seconds", { unit: "s" }));
    const text = await pair.render();
    assert.equal(
      text,
      "# HELP target_info Target metadata\n# TYPE target_info gauge\n" +
        `target_info{service_name="events-ingester-relay",service_instance_id="${INSTANCE_ID}"} 1\n` +
        "# no registered metrics",
    );
  });
});

Deno.test("createPrometheusTelemetry renders every catalogue metric as the SDK does, render after render", async () => {
  await withPair(async (pair) => {
    const random = createRandom(11);
    const record: ((value: number, attributes: MetricAttributes) => void)[] = [];
    for (const spec of ALL_METRICS) {
      const options = toInstrumentOptions(spec);
      if (spec.kind === "counter") {
        const [a, b] = pair.both((meter) => meter.createCounter(spec.name, options));
        record.push((value, attributes) => (a.add(value, attributes), b.add(value, attributes)));
      } else if (spec.kind === "histogram") {
        const [a, b] = pair.both((meter) => meter.createHistogram(spec.name, options));
        record.push((value, attributes) => (a.record(value, attributes), b.record(value, attributes)));
      } else {
        const [a, b] = pair.both((meter) => meter.createGauge(spec.name, options));
        record.push((value, attributes) => (a.record(value, attributes), b.record(value, attributes)));
      }
    }
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 400; i++) {
        const index = Math.floor(random() * ALL_METRICS.length);
        const spec = ALL_METRICS[index]!;
        const attributes = Object.fromEntries(spec.labels.map((label) => [label, `v${Math.floor(random() * 3)}`]));
        // Decimal fractions whose float sums depend on the order of addition, and bucket bounds exactly.
        const value = [0.1, 0.2, 0.7, 0.001, 2.5, 1000, 3600, 67108864, random() * 100][Math.floor(random() * 9)]!;
        record[index]!(value, attributes);
      }
      await pair.render();
    }
    assert.ok(pair.texts.at(-1)!.includes("_bucket{"));
  });
});

Deno.test("createPrometheusTelemetry keeps the SDK's float rounding of sums across renders", async () => {
  await withPair(async (pair) => {
    const [a, b] = pair.both((meter) => meter.createHistogram("test.lag_seconds", { unit: "s" }));
    const [c, d] = pair.both((meter) => meter.createCounter("test.seconds_total"));
    for (const value of [0.1, 0.2]) [a.record(value), b.record(value), c.add(value), d.add(value)];
    await pair.render();
    for (const value of [0.3, 0.6]) [a.record(value), b.record(value), c.add(value), d.add(value)];
    const text = await pair.render();
    // (0.1 + 0.2) + (0.3 + 0.6) is what the SDK keeps; a running sum would give 1.2000000000000002.
    assert.ok(text.includes("test_lag_seconds_sum 1.2\n"), text);
    assert.ok(text.includes("test_seconds_total 1.2\n"), text);
  });
});

Deno.test("createPrometheusTelemetry escapes and orders labels, and drops values, as the SDK does", async () => {
  await withPair(async (pair) => {
    const [a, b] = pair.both((meter) => meter.createCounter("test.odd-name..x", { description: 'say "hi"\\\nbye' }));
    const [h1, h2] = pair.both((meter) => meter.createHistogram("9lives", { unit: UNIT_RECORDS }));
    const [g1, g2] = pair.both((meter) => meter.createGauge("test.gauge", { unit: "{x}" }));
    const add = (value: number, attributes?: MetricAttributes) => {
      a.add(value, attributes as never);
      b.add(value, attributes as never);
      h1.record(value, attributes as never);
      h2.record(value, attributes as never);
      g1.record(value, attributes as never);
      g2.record(value, attributes as never);
    };
    add(1, { "weird key-é": 'a"b\\c\nd', n: 3 });
    add(2, { n: 3, "weird key-é": 'a"b\\c\nd' }); // the same series, keys in another order
    add(3);
    add(-1, { code: "NEG" });
    add(Number.NaN, { code: "NAN" });
    add(Infinity, { code: "INF" });
    add(-Infinity, { code: "NEG_INF" });
    add("7" as unknown as number, { code: "STRING" });
    add(5, { flag: true, list: ["x", 1], nothing: undefined } as unknown as MetricAttributes);
    add(0, {});
    add(1, { "": "empty key" });
    await pair.render();
    add(10_000, { code: "INF" });
    add(0.5, { n: 3, "weird key-é": 'a"b\\c\nd' });
    await pair.render();
  });
});

Deno.test("createPrometheusTelemetry merges and drops clashing Prometheus names as the SDK does", async () => {
  await withPair(async (pair) => {
    const counters = [
      ...pair.both((meter) => meter.createCounter("clash.a", { description: "first" })),
      ...pair.both((meter) => meter.createCounter("clash_a", { description: "second", unit: "{a}" })),
      ...pair.both((meter) => meter.createCounter("ends_total")),
      ...pair.both((meter) => meter.createCounter("...")),
    ] as Counter[];
    const gauges = [
      ...pair.both((meter) => meter.createGauge("typed.clash")),
      ...pair.both((meter) => meter.createGauge("target_info", { unit: "{t}" })),
    ] as Gauge[];
    const histograms = pair.both((meter) => meter.createHistogram("typed_clash", { unit: UNIT_BYTES })) as Histogram[];
    for (const counter of counters) counter.add(2, { k: "v" });
    for (const gauge of gauges) gauge.record(4);
    for (const histogram of histograms) histogram.record(2048);
    await pair.render();
  });
});

Deno.test("createPrometheusTelemetry runs observable gauges and skips failed callbacks as the SDK does", async () => {
  await withPair(async (pair) => {
    let queueBytes = 0;
    let isFailing = false;
    const [a, b] = pair.both((meter) => meter.createObservableGauge("test.queue_bytes", { unit: "By" })) as [
      ObservableGauge,
      ObservableGauge,
    ];
    const [c, d] = pair.both((meter) => meter.createObservableGauge("test.leader"));
    const fail = () => {
      if (isFailing) throw new Error("source gone");
    };
    const observeBytes = (result: { observe(value: number, attributes?: MetricAttributes): void }) => {
      fail();
      result.observe(queueBytes);
      result.observe(queueBytes + 1, { side: "b" });
      result.observe(queueBytes + 2, { side: "a" });
      result.observe(queueBytes + 3, { side: "b" });
    };
    const observeLeader = async (result: { observe(value: number, attributes?: MetricAttributes): void }) => {
      await Promise.resolve();
      result.observe(queueBytes > 0 ? 1 : 0);
    };
    for (const gauge of [a, b]) [gauge.addCallback(observeBytes), gauge.addCallback(observeBytes)];
    for (const gauge of [c, d]) gauge.addCallback(observeLeader);
    await pair.render();
    queueBytes = 4096;
    await pair.render();
    isFailing = true;
    queueBytes = 9;
    await pair.render(); // the failed callback's series keep their last values
    isFailing = false;
    for (const gauge of [c, d]) gauge.removeCallback(observeLeader);
    await pair.render();
  });
});

Deno.test("createPrometheusTelemetry sends label sets past 1,999 a render to the overflow series as the SDK", async () => {
  await withPair(async (pair) => {
    const [a, b] = pair.both((meter) => meter.createCounter("test.cardinality"));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2_100; i++) {
        a.add(1, { id: `${round}-${i}` });
        b.add(1, { id: `${round}-${i}` });
      }
      const text = await pair.render();
      // 2,100 new label sets a render: 1,999 get their own series, 101 go to the overflow series each time.
      const overflow = 101 * (round + 1);
      assert.ok(text.includes(`test_cardinality_total{otel_metric_overflow="true"} ${overflow}\n`));
      assert.equal(
        text.split("\n").filter((line) => line.startsWith("test_cardinality_total{id=")).length,
        1_999 * (round + 1),
      );
    }
  });
});

Deno.test("createPrometheusTelemetry matches the SDK on random calls with random renders in between", async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    await withPair(async (pair) => {
      const random = createRandom(seed);
      const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
      const counters = [pair.both((m) => m.createCounter("r.c1")), pair.both((m) => m.createCounter("r.c2"))];
      const histograms = ["s", "By", "{record}", "{other}", ""].map((unit) =>
        pair.both((m) => m.createHistogram(`r.h_${unit.replace(/\W/g, "")}`, { unit }))
      );
      const gauges = [pair.both((m) => m.createGauge("r.g", { description: "g" }))];
      const values = [0, 0.1, 0.25, 1, 5, 7.5, 1e4, 1e4 + 1, -0, -2, Number.NaN, Infinity, 1 / 3, 123456.789];
      const labelSets: (MetricAttributes | undefined)[] = [undefined, {}, { a: "1" }, { a: "2", b: "x" }, {
        b: "x",
        a: "2",
      }];
      for (let step = 0; step < 600; step++) {
        const value = pick(values);
        const attributes = pick(labelSets);
        const kind = random();
        if (kind < 0.35) { for (const c of pick(counters)) c.add(value, attributes as never); }
        else if (kind < 0.8) { for (const h of pick(histograms)) h.record(value, attributes as never); }
        else for (const g of pick(gauges)) g.record(value, attributes as never);
        if (random() < 0.03) await pair.render();
      }
      await pair.render();
    });
  }
});

Deno.test("createPrometheusTelemetry logs a failed observable callback with METRIC_COLLECT_FAILED", async () => {
  const lines: string[] = [];
  const logger = createLogger({ isDebug: false, write: (line: string) => lines.push(line) });
  const telemetry = createPrometheusTelemetry({ serviceName: "s", serviceInstanceId: "i", logger });
  telemetry.meter.createObservableGauge("test.broken").addCallback(() => {
    throw new Error("source gone");
  });
  const text = await telemetry.renderPrometheus();
  assert.equal(text.endsWith("# no registered metrics"), true);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!);
  assert.equal(line.level, "warn");
  assert.equal(line.msg, "Cannot collect a metric");
  assert.equal(line.code, "METRIC_COLLECT_FAILED");
});
