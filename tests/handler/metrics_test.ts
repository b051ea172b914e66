import assert from "node:assert/strict";
import { type App, createApp } from "../../handler/http/app.ts";
import { loadHandlerConfig } from "../../handler/config.ts";
import {
  countStoredGapsByReason,
  createHandlerMetrics,
  GAP_REASON_OTHER,
  GAP_REASONS_MAX,
} from "../../handler/metrics.ts";
import { BYTES_HELD_PER_DECODED_BYTE, createMemoryBudget } from "../../handler/http/events/memory_budget.ts";
import { createPostgresStore } from "../../handler/store/postgres_store.ts";
import { toOtelExportIntervalMs } from "../../handler/start.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import { createTelemetry, SECONDS_BUCKETS } from "../../shared/telemetry/telemetry.ts";
import type { EventRow } from "../../shared/contract/event_row.ts";
import type { GapRecord } from "../../shared/contract/records.ts";
import { testDatabaseUrl, withTestSchema } from "../support/database.ts";
import {
  CLUSTER,
  eventRecord,
  eventsRequest,
  gapRecord,
  ndjson,
  OTHER_CLUSTER,
  OTHER_TOKEN,
  testEnv,
  TOKEN,
} from "./http/app_harness.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

/** The app's clock: 30 s after the test events' own timestamp (lastTimestamp 2026-11-20T10:00:01Z). */
const NOW = new Date("2026-11-20T10:00:31Z");
const LAG_S = 30;

interface MetricsApp {
  app: App;
  /** GET /metrics through the app: the text a Prometheus scrape gets. */
  scrape(): Promise<string>;
}

/**
 * Runs `fn` against the real app on a real, migrated PostgreSQL schema, with the handler metrics recorded on a
 * fresh telemetry instance; the store reaches the database through `databaseUrl(url)` when given.
 */
async function withMetricsApp(
  fn: (harness: MetricsApp) => Promise<void>,
  options: { env?: Record<string, string>; databaseUrl?: (url: string) => string } = {},
): Promise<void> {
  await withTestSchema(async (schema) => {
    const config = loadHandlerConfig({ ...await testEnv(schema), ...options.env });
    const logger = createLogger({ isDebug: false, write: () => {} });
    const store = createPostgresStore({
      url: options.databaseUrl?.(config.databaseUrl) ?? config.databaseUrl,
      schema,
      poolMax: 2,
      retentionDays: 0,
      connectTimeoutS: 2,
      logger,
    });
    const telemetry = createTelemetry({ serviceName: "handler-test", isOtelEnabled: false, otelExportIntervalMs: 1 });
    try {
      await store.migrate();
      const memory = createMemoryBudget(config.limits);
      const observer = createHandlerMetrics(telemetry.meter);
      observer.observeMemoryBudget(() => memory.usedBytes);
      const app = createApp({
        config,
        store,
        logger,
        memory,
        now: () => NOW,
        observer,
        renderMetrics: () => telemetry.renderPrometheus(),
      });
      const scrape = async () => {
        const response = await app.fetch(new Request("http://handler.test/metrics"));
        assert.equal(response.status, 200);
        return await response.text();
      };
      await fn({ app, scrape });
    } finally {
      await store.close();
      await telemetry.shutdown();
    }
  });
}

/** The sample lines of metric `name` (its `_bucket`, `_sum`, `_count` lines for a histogram), sorted. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).sort();
}

/** The value of one sample line, `undefined` when the series does not exist. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function status(app: App, request: Request): Promise<number> {
  const response = await app.fetch(request);
  await response.body?.cancel();
  return response.status;
}

const LAG = "events_ingester_handler_commit_lag_seconds";

Deno.test("createHandlerMetrics counts rows, duplicates, rejects by code, gaps, statuses and lag of real ingests", async () => {
  await withMetricsApp(async ({ app, scrape }) => {
    const [r1, r2, r3, r4] = [eventRecord(), eventRecord(), eventRecord(), eventRecord()];
    // Batch 1: 3 new rows, r1 repeated in the batch, two INVALID_JSON lines, one CLUSTER_MISMATCH, one gap.
    const first = await app.fetch(
      await eventsRequest(ndjson([r1, r2, r1, "nope", gapRecord(), eventRecord({ cluster: OTHER_CLUSTER }), "{", r3])),
    );
    assert.deepEqual(
      [first.status, (await first.json()).rejected.map((r: { code: string }) => r.code)],
      [200, ["INVALID_JSON", "CLUSTER_MISMATCH", "INVALID_JSON"]],
    );
    // Batch 2: r2 already stored, r4 new, the same gap again (not stored twice).
    assert.equal(await status(app, await eventsRequest(ndjson([r2, r4, gapRecord()]))), 200);
    // Batch 3 from cluster-b: one row.
    assert.equal(
      await status(
        app,
        await eventsRequest(ndjson([eventRecord({ cluster: OTHER_CLUSTER })]), {
          token: OTHER_TOKEN,
        }),
      ),
      200,
    );
    // Fenced: a writer with 2 transitions stores, an older one (1) is refused.
    const newer = { "ingester-fence-holder": "relay-a", "ingester-fence-transitions": "2" };
    const older = { "ingester-fence-holder": "relay-b", "ingester-fence-transitions": "1" };
    assert.equal(await status(app, await eventsRequest(ndjson([eventRecord()]), { headers: newer })), 200);
    assert.equal(await status(app, await eventsRequest(ndjson([eventRecord()]), { headers: older })), 409);
    // Refused before the store: no token (401), a token of no cluster (401), a body over BODY_BYTES_MAX (413).
    assert.equal(await status(app, await eventsRequest(ndjson([eventRecord()]), { token: null })), 401);
    assert.equal(await status(app, await eventsRequest(ndjson([eventRecord()]), { token: "wrong" })), 401);
    const big = ndjson(Array.from({ length: 12 }, () => eventRecord()));
    assert.ok(big.length > 4096);
    assert.equal(await status(app, await eventsRequest(big, { isGzip: false })), 413);
    assert.equal(
      await status(
        app,
        new Request(`http://handler.test/v1/checkpoints/${CLUSTER}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        }),
      ),
      200,
    );
    assert.equal(await status(app, new Request("http://handler.test/livez")), 200);

    const text = await scrape();
    assert.deepEqual(samples(text, "events_ingester_handler_requests_total"), [
      'events_ingester_handler_requests_total{route="checkpoints",status="200"} 1',
      'events_ingester_handler_requests_total{route="events",status="200"} 4',
      'events_ingester_handler_requests_total{route="events",status="401"} 2',
      'events_ingester_handler_requests_total{route="events",status="409"} 1',
      'events_ingester_handler_requests_total{route="events",status="413"} 1',
      'events_ingester_handler_requests_total{route="probe",status="200"} 1',
    ]);
    assert.deepEqual(samples(text, "events_ingester_db_insert_rows_total"), [
      'events_ingester_db_insert_rows_total{cluster="cluster-a"} 5',
      'events_ingester_db_insert_rows_total{cluster="cluster-b"} 1',
    ]);
    assert.deepEqual(samples(text, "events_ingester_db_insert_duplicates_total"), [
      'events_ingester_db_insert_duplicates_total{cluster="cluster-a"} 2',
      'events_ingester_db_insert_duplicates_total{cluster="cluster-b"} 0',
    ]);
    assert.deepEqual(samples(text, "events_ingester_handler_rejected_lines_total"), [
      'events_ingester_handler_rejected_lines_total{cluster="cluster-a",code="CLUSTER_MISMATCH"} 1',
      'events_ingester_handler_rejected_lines_total{cluster="cluster-a",code="INVALID_JSON"} 2',
    ]);
    assert.deepEqual(samples(text, "events_ingester_records_build_failure_total"), [
      'events_ingester_records_build_failure_total{reason="CLUSTER_MISMATCH"} 1',
      'events_ingester_records_build_failure_total{reason="INVALID_JSON"} 2',
    ]);
    assert.deepEqual(samples(text, "events_ingester_handler_gap_records_total"), [
      'events_ingester_handler_gap_records_total{cluster="cluster-a",reason="WATCH_EXPIRED"} 1',
    ]);
    assert.deepEqual(samples(text, "events_ingester_db_insert_failure_total"), [
      'events_ingester_db_insert_failure_total{type="fenced"} 1',
    ]);
    // Five write transactions (batches 1-3, both fenced ones): 4 + 2 + 1 + 1 + 1 valid rows.
    assert.equal(value(text, "events_ingester_batch_flush_size_count"), 5);
    assert.equal(value(text, "events_ingester_batch_flush_size_sum"), 9);
    assert.equal(value(text, 'events_ingester_batch_flush_size_bucket{le="1"}'), 3);
    assert.equal(value(text, 'events_ingester_batch_flush_size_bucket{le="5"}'), 5);
    assert.equal(value(text, "events_ingester_batch_flush_duration_seconds_count"), 5);
    assert.ok((value(text, "events_ingester_batch_flush_duration_seconds_sum") ?? -1) > 0);
    // Lag: every valid row of a committed batch, 30 s after its own timestamp (cluster-a: 4 + 2 + 1 rows).
    assert.equal(value(text, `${LAG}_count{cluster="cluster-a"}`), 7);
    assert.equal(value(text, `${LAG}_sum{cluster="cluster-a"}`), 7 * LAG_S);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="10"}`), 0);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="30"}`), 7);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="+Inf"}`), 7);
    assert.equal(value(text, `${LAG}_count{cluster="cluster-b"}`), 1);
    assert.equal(
      samples(text, `${LAG}_bucket`).filter((line) => line.includes('cluster="cluster-a"')).length,
      SECONDS_BUCKETS.length + 1,
    );

    // The scrape itself is counted, once it has been answered.
    const again = await scrape();
    assert.equal(value(again, 'events_ingester_handler_requests_total{route="metrics",status="200"}'), 1);
  }, { env: { BODY_BYTES_MAX: "4096" } });
});

Deno.test("createHandlerMetrics counts a 503 as an unavailable insert, and its rejected lines not at all", async () => {
  const target = new URL(testDatabaseUrl());
  const proxy = startTcpProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
  try {
    await withMetricsApp(async ({ app, scrape }) => {
      assert.equal(await status(app, await eventsRequest(ndjson([eventRecord(), eventRecord()]))), 200);
      await proxy.stop();
      // The database is gone: the batch is refused whole, the relay will send it again.
      const response = await app.fetch(await eventsRequest(ndjson([eventRecord(), "nope"])));
      assert.deepEqual([response.status, (await response.json()).code], [503, "DATABASE_UNAVAILABLE"]);
      assert.equal(await status(app, new Request("http://handler.test/readyz")), 503);
      const text = await scrape();
      assert.deepEqual(samples(text, "events_ingester_handler_requests_total"), [
        'events_ingester_handler_requests_total{route="events",status="200"} 1',
        'events_ingester_handler_requests_total{route="events",status="503"} 1',
        'events_ingester_handler_requests_total{route="probe",status="503"} 1',
      ]);
      assert.deepEqual(samples(text, "events_ingester_db_insert_failure_total"), [
        'events_ingester_db_insert_failure_total{type="unavailable"} 1',
      ]);
      assert.deepEqual(samples(text, "events_ingester_db_insert_rows_total"), [
        'events_ingester_db_insert_rows_total{cluster="cluster-a"} 2',
      ]);
      assert.deepEqual(samples(text, "events_ingester_handler_rejected_lines_total"), []);
      assert.equal(value(text, "events_ingester_batch_flush_size_count"), 2);
      assert.equal(value(text, "events_ingester_batch_flush_size_sum"), 3);
      assert.equal(value(text, `${LAG}_count{cluster="cluster-a"}`), 2);
    }, {
      databaseUrl: (url) => {
        const proxied = new URL(url);
        proxied.hostname = "127.0.0.1";
        proxied.port = String(proxy.port);
        return proxied.toString();
      },
    });
  } finally {
    await proxy.stop();
  }
});

/** A row with only its timestamp of interest. */
function rowAt(createdAt: string): EventRow {
  return {
    createdAt,
    clusterName: CLUSTER,
    uid: "u",
    globalUid: `${CLUSTER}:u`,
    namespace: null,
    resourceKind: null,
    resourceName: null,
    involvedObjectUid: null,
    eventType: null,
    reason: null,
    message: null,
    compositionId: null,
    raw: "{}",
    resourceVersion: createdAt,
  };
}

Deno.test("createHandlerMetrics records a lag of 0 for an event stamped after the commit clock", async () => {
  const telemetry = createTelemetry({ serviceName: "t", isOtelEnabled: false, otelExportIntervalMs: 1 });
  try {
    createHandlerMetrics(telemetry.meter).onBatch({
      cluster: CLUSTER,
      rows: [rowAt("2026-11-20T10:01:00Z"), rowAt("2026-11-20T09:59:00Z")],
      gaps: [],
      rejected: [],
      durationS: 0.002,
      result: { inserted: 2, duplicates: 0, gapsInserted: 0 },
      committedAt: new Date("2026-11-20T10:00:00Z"),
    });
    const text = await telemetry.renderPrometheus();
    assert.equal(value(text, `${LAG}_count{cluster="cluster-a"}`), 2);
    assert.equal(value(text, `${LAG}_sum{cluster="cluster-a"}`), 60);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="0.001"}`), 1);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="30"}`), 1);
    assert.equal(value(text, `${LAG}_bucket{cluster="cluster-a",le="60"}`), 2);
    assert.equal(value(text, "events_ingester_batch_flush_duration_seconds_sum"), 0.002);
  } finally {
    await telemetry.shutdown();
  }
});

Deno.test("createHandlerMetrics keeps at most GAP_REASONS_MAX gap reasons and only code-like ones", async () => {
  const telemetry = createTelemetry({ serviceName: "t", isOtelEnabled: false, otelExportIntervalMs: 1 });
  try {
    const metrics = createHandlerMetrics(telemetry.meter);
    const reasons = [
      ...Array.from({ length: GAP_REASONS_MAX + 2 }, (_, i) => `REASON_${i}`),
      "free text from a relay",
      "REASON_0",
    ];
    for (const [i, reason] of reasons.entries()) {
      const gap: GapRecord = { ...gapRecord(), to: String(i), reason };
      metrics.onBatch({
        cluster: CLUSTER,
        rows: [],
        gaps: [gap],
        rejected: [],
        durationS: 0,
        result: { inserted: 0, duplicates: 0, gapsInserted: 1 },
        committedAt: NOW,
      });
    }
    const text = await telemetry.renderPrometheus();
    const name = "events_ingester_handler_gap_records_total";
    const series = (reason: string) => `${name}{cluster="cluster-a",reason="${reason}"}`;
    assert.equal(samples(text, name).length, GAP_REASONS_MAX + 1);
    assert.equal(value(text, series("REASON_0")), 2);
    assert.equal(value(text, series(`REASON_${GAP_REASONS_MAX - 1}`)), 1);
    assert.equal(value(text, series(GAP_REASON_OTHER)), 3);
  } finally {
    await telemetry.shutdown();
  }
});

Deno.test("countStoredGapsByReason merges repeated gaps and attributes the stored count in batch order", () => {
  const gap = (to: string, reason: string): GapRecord => ({ ...gapRecord(), to, reason });
  assert.deepEqual(countStoredGapsByReason([], 0), new Map());
  assert.deepEqual(
    countStoredGapsByReason([gap("1", "WATCH_EXPIRED"), gap("1", "WATCH_EXPIRED"), gap("2", "WATCH_EXPIRED")], 2),
    new Map([["WATCH_EXPIRED", 2]]),
  );
  assert.deepEqual(
    countStoredGapsByReason([gap("1", "WATCH_EXPIRED"), gap("2", "RELIST")], 2),
    new Map([["WATCH_EXPIRED", 1], ["RELIST", 1]]),
  );
  assert.deepEqual(countStoredGapsByReason([gap("1", "WATCH_EXPIRED")], 0), new Map());
});

Deno.test("toOtelExportIntervalMs converts OTEL_EXPORT_INTERVAL seconds to whole milliseconds, at least 1", () => {
  assert.deepEqual([60, 0.25, 1.0004, 0.0001].map(toOtelExportIntervalMs), [60_000, 250, 1000, 1]);
});

Deno.test("createHandlerMetrics records request durations in second-scale buckets by route and status", async () => {
  const telemetry = createTelemetry({ serviceName: "handler-test", isOtelEnabled: false, otelExportIntervalMs: 1 });
  try {
    const metrics = createHandlerMetrics(telemetry.meter);
    metrics.onResponse({ route: "events", status: 200, durationS: 0.2 });
    metrics.onResponse({ route: "events", status: 200, durationS: 3 });
    metrics.onResponse({ route: "events", status: 503, durationS: 0.004 });
    metrics.onResponse({ route: "probe", status: 200, durationS: 0.0005 });
    const text = await telemetry.renderPrometheus();
    const name = "events_ingester_handler_request_duration_seconds";
    const events200 = 'route="events",status="200"';
    assert.equal(value(text, `${name}_count{${events200}}`), 2);
    assert.equal(value(text, `${name}_sum{${events200}}`), 3.2);
    assert.equal(value(text, `${name}_bucket{${events200},le="0.1"}`), 0);
    assert.equal(value(text, `${name}_bucket{${events200},le="0.25"}`), 1);
    assert.equal(value(text, `${name}_bucket{${events200},le="2.5"}`), 1);
    assert.equal(value(text, `${name}_bucket{${events200},le="5"}`), 2);
    assert.equal(value(text, `${name}_bucket{route="events",status="503",le="0.005"}`), 1);
    assert.equal(value(text, `${name}_bucket{route="probe",status="200",le="0.001"}`), 1);
    assert.equal(
      samples(text, `${name}_bucket`).filter((line) => line.includes(events200)).length,
      SECONDS_BUCKETS.length + 1,
    );
    assert.equal(value(text, 'events_ingester_handler_requests_total{route="events",status="200"}'), 2);
  } finally {
    await telemetry.shutdown();
  }
});

Deno.test("the memory budget gauge shows what a request in flight holds, and 0 once it is answered", async () => {
  await withMetricsApp(async ({ app, scrape }) => {
    const gauge = "events_ingester_handler_memory_budget_used_bytes";
    const first = new TextEncoder().encode(ndjson([eventRecord()]));
    const rest = new TextEncoder().encode(ndjson([eventRecord()]));
    let sendRest!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(first);
        sendRest = () => {
          controller.enqueue(rest);
          controller.close();
        };
      },
    });
    assert.equal(value(await scrape(), gauge), 0);
    const answered = app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}` },
        body,
        duplex: "half",
      } as RequestInit),
    );
    let held = 0;
    for (let i = 0; i < 200 && held === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      held = value(await scrape(), gauge) ?? 0;
    }
    assert.equal(held, BYTES_HELD_PER_DECODED_BYTE * first.length);
    sendRest();
    const response = await answered;
    assert.equal(response.status, 200);
    assert.equal((await response.json()).accepted, 2);
    assert.equal(value(await scrape(), gauge), 0);
  });
});
