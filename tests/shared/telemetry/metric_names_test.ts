import assert from "node:assert/strict";
import { ALL_METRICS, METRICS, toInstrumentOptions, toPrometheusName } from "../../../shared/telemetry/metric_names.ts";

Deno.test("toPrometheusName turns dots into underscores and adds _total to counters only", () => {
  assert.equal(toPrometheusName(METRICS.eventsReceived), "events_ingester_events_received_total");
  assert.equal(
    toPrometheusName(METRICS.batchFlushDuration),
    "events_ingester_batch_flush_duration_seconds",
  );
  assert.equal(toPrometheusName(METRICS.relayQueueBytes), "events_ingester_relay_queue_bytes");
  assert.equal(toPrometheusName({ name: "a.b..c_total", kind: "counter" }), "a_b_c_total");
});

Deno.test("METRICS keeps the Krateo events-ingester names", () => {
  const krateo = ALL_METRICS.filter((spec) => spec.origin === "krateo").map((spec) => spec.name).sort();
  assert.deepEqual(krateo, [
    "events_ingester.batch.flush.duration_seconds",
    "events_ingester.batch.flush.size",
    "events_ingester.composition.lookup.duration_seconds",
    "events_ingester.db.insert.failure",
    "events_ingester.db.insert.rows",
    "events_ingester.events.dispatched",
    "events_ingester.events.dropped",
    "events_ingester.events.received",
    "events_ingester.queue.depth",
    "events_ingester.records.build.failure",
  ]);
});

Deno.test("METRICS names are valid, unique, and unique once exposed to Prometheus", () => {
  const names = ALL_METRICS.map((spec) => spec.name);
  assert.equal(new Set(names).size, names.length);
  const exposed = ALL_METRICS.map(toPrometheusName);
  assert.equal(new Set(exposed).size, exposed.length);
  for (const name of names) assert.match(name, /^events_ingester\.[a-z][a-z0-9_.]*[a-z0-9]$/, name);
});

Deno.test("METRICS names already end in the suffix an OpenTelemetry Collector would add for their unit", () => {
  for (const spec of ALL_METRICS) {
    if (spec.unit === "s") assert.ok(spec.name.endsWith("_seconds"), spec.name);
    if (spec.unit === "By") assert.ok(spec.name.endsWith("_bytes"), spec.name);
    assert.ok(spec.unit === "" || spec.unit === "s" || spec.unit === "By" || /^\{[a-z]+\}$/.test(spec.unit), spec.name);
    assert.equal(spec.name.endsWith("_total"), false, spec.name);
  }
});

Deno.test("METRICS describe every metric and list distinct label keys", () => {
  for (const spec of ALL_METRICS) {
    assert.ok(spec.description.length > 20, spec.name);
    assert.equal(new Set(spec.labels).size, spec.labels.length, spec.name);
  }
});

Deno.test("toInstrumentOptions passes the description and unit", () => {
  assert.deepEqual(toInstrumentOptions(METRICS.relaySendDuration), {
    description: METRICS.relaySendDuration.description,
    unit: "s",
  });
});
