/**
 * `deno task bench`: prints one JSON object per line.
 *
 * `handler_ingest`: realistic events (about 1 KB of Kubernetes JSON each) sent over HTTP as gzip NDJSON in batches to
 * the real handler (`handler/main.ts` in a child process, so its CPU and peak RSS are its own; handler_ingest.ts), into
 * the partitioned table with notifications on; then, on the same rows and database, a plain COPY into an identical
 * table without conflict handling or trigger (`copy_limit`) and the Go events-ingester's method, multi-row INSERT of
 * 100 rows per statement on one connection with a per-row NOTIFY trigger (`krateo_strategy`). Printed once per entry
 * of BENCH_BATCH_RECORDS and of BENCH_SENDERS: with one sender (one cluster's relay, requests in series) and with two
 * clusters sending at once (the multi-cluster case); the same number of events each time, split evenly between the
 * senders. The baselines are measured once, on the first run's rows.
 *
 * `handler_krateo_table`: the same one-sender events sent to a handler that adopts the existing Krateo stack's table
 * (tests/fixtures/krateo_schema.sql and its job's partitions, per-row NOTIFY trigger kept), against the Krateo method into the same table
 * layout (`krateo_strategy` above); once per entry of BENCH_BATCH_RECORDS. BENCH_SKIP_KRATEO_TABLE=1 leaves it out.
 *
 * `notify_strategy`: the same rows written in the same batches into tables that differ only in how the per-row
 * notification is produced and whether rows go through staging or straight in by COPY (tests/bench/notify_strategy.ts).
 *
 * `relay_e2e`: a simulated cluster holding the same number of live events; a relay (the `relay` task's command)
 * cold-starts, lists and sends them all through a real handler into PostgreSQL (tests/bench/relay_e2e.ts), compared
 * with the one-sender `handler_ingest` rate of the same run at the relay's default batch size. BENCH_SKIP_RELAY=1
 * leaves it out.
 *
 * `relay_lag`: the simulator creates events at a steady rate against a running relay and handler; the time from each
 * event's creation to its row's notification (tests/bench/relay_lag.ts). BENCH_SKIP_RELAY_LAG=1 leaves it out.
 *
 * Environment: BENCH_DATABASE_URL (else an embedded PostgreSQL is started and removed), BENCH_EVENTS (100000),
 * BENCH_BATCH_RECORDS (comma-separated records per request, "1000,5000"), BENCH_SENDERS (comma-separated sender
 * counts, "1,2"), BENCH_SKIP_NOTIFY_STRATEGY=1, and those of handler_process.ts, relay_e2e.ts and relay_lag.ts.
 */
import { DEFAULT_LIMITS } from "../../shared/contract/limits.ts";
import type { EventRecord } from "../../shared/contract/records.ts";
import type { EventRow } from "../../shared/contract/event_row.ts";
import { toPartitionDays } from "../../handler/store/schema/partitions.ts";
import { createKrateoTable, openSql, type Sql, withBenchDatabase } from "./bench_database.ts";
import { measureCopyLimit, measureKrateo } from "./baselines.ts";
import { measureNotifyStrategies } from "./notify_strategy.ts";
import { loadFixtureEvents, makeBenchRecords, toBenchRows } from "./bench_events.ts";
import { type HandlerIngestResult, measureHandlerIngest, settle } from "./handler_ingest.ts";
import { measureRelayE2e } from "./relay_e2e.ts";
import { measureRelayLag } from "./relay_lag.ts";

const EVENTS = Number(Deno.env.get("BENCH_EVENTS") ?? 100_000);
const BATCH_RECORDS = (Deno.env.get("BENCH_BATCH_RECORDS") ?? "1000,5000").split(",").map(Number);
const SENDERS = (Deno.env.get("BENCH_SENDERS") ?? "1,2").split(",").map(Number);
const isSkipped = (name: string) => Deno.env.get(name) === "1";

/** The reference figures, measured once on the first run's rows. */
interface Baselines {
  rows: EventRow[];
  days: string[];
  copyLimit: number;
  krateo: { eventsPerS: number; stored: number; notifications: number };
}

const toRatio = (value: number, reference: number) => Math.round(value / reference * 100) / 100;

/** The fields every handler line has: what was sent, the handler's figures and the checks of what it stored. */
function toHandlerFields(handler: HandlerIngestResult, records: readonly EventRecord[], batchRecords: number) {
  return {
    events: records.length,
    batch_records: batchRecords,
    requests: handler.requests,
    events_per_s: handler.eventsPerS,
    handler_cpu_us_per_event: handler.cpuUsPerEvent,
    handler_wall_us_per_event: handler.wallUsPerEvent,
    handler_peak_rss_mib: handler.peakRssMib,
    accepted: handler.accepted,
    duplicates: handler.duplicates,
    notifications: handler.notifications,
  };
}

function toIngestLine(handler: HandlerIngestResult, records: readonly EventRecord[], context: {
  baselines: Baselines;
  batchRecords: number;
  senders: number;
  postgresVersion: unknown;
}) {
  const { baselines: { rows, days, copyLimit, krateo }, batchRecords, senders } = context;
  const eventBytes = records.reduce((sum, record) => sum + JSON.stringify(record.event).length, 0);
  const rawBytes = rows.reduce((sum, row) => sum + row.raw.length, 0);
  return {
    bench: "handler_ingest",
    senders,
    ...toHandlerFields(handler, records, batchRecords),
    event_json_bytes_avg: Math.round(eventBytes / records.length),
    raw_bytes_avg: Math.round(rawBytes / rows.length),
    gzip_body_bytes_total: handler.gzipBytes,
    copy_limit_events_per_s: copyLimit,
    krateo_strategy_events_per_s: krateo.eventsPerS,
    ratio_vs_copy: toRatio(handler.eventsPerS, copyLimit),
    ratio_vs_krateo: toRatio(handler.eventsPerS, krateo.eventsPerS),
    krateo_rows_stored: krateo.stored,
    krateo_notifications: krateo.notifications,
    partitions: days.length,
    postgres_version: context.postgresVersion,
  };
}

async function main(url: string): Promise<void> {
  const sql = openSql(url, 2);
  try {
    await runLines(url, sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function runLines(url: string, sql: Sql): Promise<void> {
  const version = await sql.unsafe(`select current_setting('server_version') as v`);
  const fixtures = await loadFixtureEvents();
  const end = new Date();
  const toRecords = (senders: number) =>
    Array.from({ length: senders }, (_, i) => `bench-${i}`).flatMap((cluster, i) =>
      makeBenchRecords(fixtures, { cluster, count: Math.floor(EVENTS / senders), end, days: 3, offset: i * EVENTS })
    );
  let baselines: Baselines | undefined;
  /** One-sender rates by batch size, for the relay line. */
  const oneSenderEventsPerS = new Map<number, number>();
  for (const batchRecords of BATCH_RECORDS) {
    for (const senders of SENDERS) {
      const records = toRecords(senders);
      const clusters = Array.from({ length: senders }, (_, i) => `bench-${i}`);
      const handler = await measureHandlerIngest({
        url,
        sql,
        records,
        clusters,
        batchRecords,
        schema: "bench_handler",
      });
      if (baselines === undefined) {
        const rows = toBenchRows(records);
        const days = toPartitionDays(rows.map((row) => row.createdAt));
        baselines = {
          rows,
          days,
          copyLimit: await settle(sql).then(() => measureCopyLimit(sql, rows, days)),
          krateo: await settle(sql).then(() => measureKrateo(url, sql, rows, days)),
        };
      }
      if (senders === 1) oneSenderEventsPerS.set(batchRecords, handler.eventsPerS);
      const line = toIngestLine(handler, records, { baselines, batchRecords, senders, postgresVersion: version[0]?.v });
      console.log(JSON.stringify(line));
    }
  }
  if (baselines === undefined) throw new RangeError(`Cannot run the benchmark: BENCH_SENDERS is empty`);
  const { days, krateo } = baselines;
  if (!isSkipped("BENCH_SKIP_KRATEO_TABLE")) {
    const records = toRecords(1);
    for (const batchRecords of BATCH_RECORDS) {
      const schema = "bench_handler_krateo";
      const handler = await measureHandlerIngest({
        url,
        sql,
        records,
        clusters: ["bench-0"],
        batchRecords,
        schema,
        prepare: () => createKrateoTable(sql, schema, days),
      });
      console.log(JSON.stringify({
        bench: "handler_krateo_table",
        senders: 1,
        ...toHandlerFields(handler, records, batchRecords),
        krateo_strategy_events_per_s: krateo.eventsPerS,
        ratio_vs_krateo: toRatio(handler.eventsPerS, krateo.eventsPerS),
      }));
    }
  }
  if (!isSkipped("BENCH_SKIP_NOTIFY_STRATEGY")) {
    await settle(sql);
    const batchRecords = BATCH_RECORDS[0]!;
    const strategies = await measureNotifyStrategies(sql, baselines.rows, { days, batchRecords });
    console.log(JSON.stringify({
      bench: "notify_strategy",
      events: baselines.rows.length,
      batch_records: batchRecords,
      ...strategies,
    }));
  }
  if (!isSkipped("BENCH_SKIP_RELAY")) {
    await settle(sql);
    const handlerEventsPerS = oneSenderEventsPerS.get(DEFAULT_LIMITS.batchRecordsMax);
    console.log(JSON.stringify(await measureRelayE2e({ databaseUrl: url, events: EVENTS, handlerEventsPerS })));
  }
  if (!isSkipped("BENCH_SKIP_RELAY_LAG")) {
    await settle(sql);
    console.log(JSON.stringify(await measureRelayLag({ databaseUrl: url })));
  }
}

if (import.meta.main) await withBenchDatabase("bench", main);
