/**
 * `deno task bench:sizing`: what a stored event costs the database, measured on the real fixture events
 * (tests/fixtures/*.ndjson, 54 events from real clusters), each stored many times with its own uid and resourceVersion,
 * on one day, with a pod's enrichment (sizing_records.ts), through the real write path: the handler process
 * (`handler/main.ts`, as `deno task bench` starts it) receiving gzip NDJSON batches of 1,000 records from two clusters
 * at once. Done twice: into the table the handler creates (`handler`) and into the existing Krateo layout (`krateo`:
 * tests/fixtures/krateo_schema.sql, per-row NOTIFY trigger, and the day's partition made by the stack's partition job
 * with its seven indexes, tests/fixtures/krateo_partition.sql).
 *
 * Prints one JSON object per layout (`bench: "sizing"`): the average size of `raw` as text and as stored, and of a
 * whole row; bytes per event of the partitions' heap, TOAST and each index (summed over the partitions) and in total
 * (pg_total_relation_size); WAL bytes per event (pg_current_wal_lsn before and after, starting after a CHECKPOINT),
 * and for 1,000 more events sent right after another CHECKPOINT into the filled partition; the CPU time per event of
 * the handler process and of the whole PostgreSQL server (postmaster and all its processes, from /proc; null for a
 * server on another machine), and their ratio; each partition's figures. Environment: BENCH_DATABASE_URL (else a
 * throwaway embedded PostgreSQL), BENCH_SIZING_EVENTS (events per layout, 40000).
 */
import { gzipSync } from "node:zlib";
import { encodeNdjson } from "../../shared/contract/ndjson.ts";
import { EVENTS_PATH, type IngestResponse, NDJSON_CONTENT_TYPE } from "../../shared/contract/protocol.ts";
import type { EventRecord } from "../../shared/contract/records.ts";
import { openSql, type Sql, withBenchDatabase } from "./bench_database.ts";
import { startHandlerProcess } from "./handler_process.ts";
import { findPostmasterPid, readPostgresCpuMs } from "./postgres_cpu.ts";
import {
  checkpoint,
  type PartitionSize,
  readIndexSizes,
  readPartitionSizes,
  readWalBytesSince,
  readWalLsn,
} from "./relation_sizes.ts";
import { loadFixtureEvents, makeSizingRecords, SIZING_DAY } from "./sizing_records.ts";
import { createKrateoTable } from "../support/krateo_fixture.ts";

const EVENTS = Number(Deno.env.get("BENCH_SIZING_EVENTS") ?? 40_000);
/** Records per request: the relay's default batch. */
const BATCH_RECORDS = 1_000;
/** Events sent after the others, right after a checkpoint, for the WAL a checkpoint adds. */
const TAIL_RECORDS = 1_000;
const CLUSTERS = ["sizing-a", "sizing-b"];
const LAYOUTS = ["handler", "krateo"] as const;
type Layout = (typeof LAYOUTS)[number];

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function prepareSchema(sql: Sql, layout: Layout): Promise<string> {
  const schema = `sizing_${layout}`;
  await sql.unsafe(`drop schema if exists ${schema} cascade`);
  if (layout === "krateo") {
    await sql.unsafe(`create schema ${schema}`);
    // The stack's partition job has made the day's partition, with its seven indexes, before events arrive.
    await createKrateoTable(sql, schema, [SIZING_DAY]);
  }
  return schema;
}

/** Sends every cluster's records in batches, the clusters at once; returns the accepted count. */
async function sendAll(baseUrl: string, tokens: readonly string[], records: readonly EventRecord[]) {
  let accepted = 0;
  await Promise.all(CLUSTERS.map(async (cluster, index) => {
    const own = records.filter((record) => record.cluster === cluster);
    for (let offset = 0; offset < own.length; offset += BATCH_RECORDS) {
      const body = gzipSync(new TextEncoder().encode(encodeNdjson(own.slice(offset, offset + BATCH_RECORDS))));
      const response = await fetch(`${baseUrl}${EVENTS_PATH}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens[index]}`,
          "content-type": NDJSON_CONTENT_TYPE,
          "content-encoding": "gzip",
        },
        body: new Uint8Array(body),
      });
      const text = await response.text();
      if (response.status !== 200) {
        throw new Error(`Cannot send a batch: HTTP ${response.status} ${text.slice(0, 300)}`);
      }
      accepted += (JSON.parse(text) as IngestResponse).accepted;
    }
  }));
  return accepted;
}

const perEvent = (bytes: number, events: number) => Math.round(bytes / events * 10) / 10;

async function measureLayout(
  url: string,
  sql: Sql,
  layout: Layout,
  batches: { records: readonly EventRecord[]; tail: readonly EventRecord[] },
) {
  const { records, tail } = batches;
  const schema = await prepareSchema(sql, layout);
  const tokens = CLUSTERS.map(() => crypto.randomUUID());
  const hashes = await Promise.all(tokens.map(sha256Hex));
  const handler = await startHandlerProcess({
    DATABASE_URL: url,
    DB_SCHEMA: schema,
    CLUSTER_TOKEN_HASHES: CLUSTERS.map((cluster, i) => `${cluster}=${hashes[i]}`).join(","),
    PORT: "0",
    RETENTION_DAYS: "0",
  });
  const postmasterPid = await findPostmasterPid(sql);
  try {
    const isCheckpointed = await checkpoint(sql);
    const walBefore = await readWalLsn(sql);
    const handlerCpuBeforeMs = await handler.cpuMs();
    const postgresCpuBeforeMs = postmasterPid === undefined ? undefined : readPostgresCpuMs(postmasterPid);
    const started = performance.now();
    const accepted = await sendAll(handler.baseUrl, tokens, records);
    const ms = performance.now() - started;
    const handlerCpuMs = await handler.cpuMs() - handlerCpuBeforeMs;
    const postgresCpuAfterMs = postmasterPid === undefined ? undefined : readPostgresCpuMs(postmasterPid);
    const walBytes = await readWalBytesSince(sql, walBefore);
    // One more batch right after a checkpoint, into the filled partition: every index page it touches is written
    // whole to the WAL again (a full-page image), as happens after each checkpoint in service.
    await checkpoint(sql);
    const walTailBefore = await readWalLsn(sql);
    const tailAccepted = await sendAll(handler.baseUrl, tokens, tail);
    const walTailBytes = await readWalBytesSince(sql, walTailBefore);
    if (accepted !== records.length || tailAccepted !== tail.length) {
      throw new Error(`Cannot size ${layout}: ${accepted + tailAccepted} of ${records.length + tail.length} stored`);
    }
    const partitions = await readPartitionSizes(sql, schema);
    const indexes = await readIndexSizes(sql, schema);
    const [raw] = await sql.unsafe<{ text: number; stored: number; row: number }[]>(
      `select avg(octet_length(raw::text))::float8 as text, avg(pg_column_size(raw))::float8 as stored,
              avg(pg_column_size(e.*))::float8 as row
         from ${schema}.k8s_events e`,
    );
    const sum = (field: keyof Omit<PartitionSize, "name">) => partitions.reduce((total, p) => total + p[field], 0);
    const events = sum("rows");
    const postgresCpuMs = postgresCpuBeforeMs === undefined || postgresCpuAfterMs === undefined
      ? undefined
      : postgresCpuAfterMs - postgresCpuBeforeMs;
    const handlerCpuUs = handlerCpuMs * 1000 / events;
    const postgresCpuUs = postgresCpuMs === undefined ? null : postgresCpuMs * 1000 / events;
    return {
      bench: "sizing",
      layout,
      events,
      batch_records: BATCH_RECORDS,
      events_per_s: Math.round(events / (ms / 1000)),
      raw_text_bytes_avg: Math.round(raw?.text ?? 0),
      raw_stored_bytes_avg: Math.round(raw?.stored ?? 0),
      row_bytes_avg: Math.round(raw?.row ?? 0),
      heap_bytes_per_event: perEvent(sum("heap"), events),
      toast_bytes_per_event: perEvent(sum("toast"), events),
      index_bytes_per_event: Object.fromEntries(
        Object.entries(indexes).map(([definition, bytes]) => [definition, perEvent(bytes, events)]),
      ),
      maps_bytes_per_event: perEvent(sum("maps"), events),
      total_bytes_per_event: perEvent(sum("total"), events),
      wal_bytes_per_event: perEvent(walBytes, records.length),
      wal_bytes_per_event_after_checkpoint: perEvent(walTailBytes, tail.length),
      wal_from_checkpoint: isCheckpointed,
      handler_cpu_us_per_event: Math.round(handlerCpuUs),
      postgres_cpu_us_per_event: postgresCpuUs === null ? null : Math.round(postgresCpuUs),
      handler_replicas_per_database_core: postgresCpuUs === null
        ? null
        : Math.round(handlerCpuUs / postgresCpuUs * 100) / 100,
      partitions,
    };
  } finally {
    await handler.stop();
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
  }
}

async function main(url: string): Promise<void> {
  const sql = openSql(url, 2);
  try {
    const [settings] = await sql.unsafe(
      `select current_setting('server_version') as version, current_setting('wal_level') as wal_level,
              current_setting('full_page_writes') as full_page_writes,
              current_setting('wal_compression') as wal_compression`,
    );
    const fixtures = await loadFixtureEvents();
    const perCluster = Math.floor(EVENTS / CLUSTERS.length);
    const tailPerCluster = TAIL_RECORDS / CLUSTERS.length;
    for (const layout of LAYOUTS) {
      const records = CLUSTERS.flatMap((cluster, i) =>
        makeSizingRecords(fixtures, { cluster, count: perCluster, offset: i * perCluster })
      );
      const tail = CLUSTERS.flatMap((cluster, i) =>
        makeSizingRecords(fixtures, { cluster, count: tailPerCluster, offset: EVENTS + i * tailPerCluster })
      );
      console.log(JSON.stringify({ ...await measureLayout(url, sql, layout, { records, tail }), postgres: settings }));
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) await withBenchDatabase("sizing", main);
