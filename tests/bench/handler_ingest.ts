/**
 * One run of the real handler (`handler/main.ts` in a child process, tests/bench/handler_process.ts) for the
 * benchmark: the records sent as gzip NDJSON requests of `batchRecords`, each cluster's requests one after another and
 * the clusters at once, into `schema`; timed, with the handler's CPU and peak RSS and the notifications counted.
 */
import { gzipSync } from "node:zlib";
import { encodeNdjson } from "../../shared/contract/ndjson.ts";
import { EVENTS_PATH, type IngestResponse, NDJSON_CONTENT_TYPE } from "../../shared/contract/protocol.ts";
import type { EventRecord } from "../../shared/contract/records.ts";
import { countNotifications, perSecond, type Sql } from "./bench_database.ts";
import { startHandlerProcess } from "./handler_process.ts";

/** What one run sends and where. */
export interface HandlerIngestOptions {
  url: string;
  sql: Sql;
  /** Every cluster's records; each cluster sends its own in order. */
  records: readonly EventRecord[];
  clusters: readonly string[];
  batchRecords: number;
  /** Schema the handler writes to: dropped before and after the run. */
  schema: string;
  /** Creates what the schema is to hold before the handler starts (an existing table to adopt); none when omitted. */
  prepare?: () => Promise<void>;
}

/** The figures of one run. */
export interface HandlerIngestResult {
  eventsPerS: number;
  accepted: number;
  duplicates: number;
  notifications: number;
  gzipBytes: number;
  requests: number;
  peakRssMib: number;
  cpuUsPerEvent: number;
  wallUsPerEvent: number;
}

interface Body {
  cluster: number;
  gzip: Uint8Array<ArrayBuffer>;
  records: number;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Flushes the WAL of earlier measurements (CHECKPOINT) so that a checkpoint they caused does not fall into the next
 * one's timing. Needs a superuser or pg_checkpoint; without it the measurements run as they are, with a warning.
 */
export async function settle(sql: Sql): Promise<void> {
  try {
    await sql.unsafe("checkpoint");
  } catch (error) {
    // The figures stay valid, only noisier; say so once per measurement.
    console.error(`bench: CHECKPOINT refused (${(error as Error).message}); measuring without it`);
  }
}

function toBodies(records: readonly EventRecord[], clusters: readonly string[], batchRecords: number): Body[] {
  const bodies: Body[] = [];
  clusters.forEach((cluster, index) => {
    const own = records.filter((record) => record.cluster === cluster);
    for (let offset = 0; offset < own.length; offset += batchRecords) {
      const slice = own.slice(offset, offset + batchRecords);
      const gzip = new Uint8Array(gzipSync(new TextEncoder().encode(encodeNdjson(slice))));
      bodies.push({ cluster: index, gzip, records: slice.length });
    }
  });
  return bodies;
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

/** Runs the handler on the records (see the file comment) and returns its figures. */
export async function measureHandlerIngest(options: HandlerIngestOptions): Promise<HandlerIngestResult> {
  const { url, sql, records, clusters, schema } = options;
  await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  await options.prepare?.();
  const tokens = clusters.map(() => crypto.randomUUID());
  const hashes = await Promise.all(tokens.map(sha256Hex));
  const bodies = toBodies(records, clusters, options.batchRecords);
  const handler = await startHandlerProcess({
    DATABASE_URL: url,
    DB_SCHEMA: schema,
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
      gzipBytes: bodies.reduce((sum, body) => sum + body.gzip.length, 0),
      requests: bodies.length,
      peakRssMib,
      cpuUsPerEvent: Math.round(cpuMs * 1000 / records.length * 10) / 10,
      wallUsPerEvent: Math.round(ms * 1000 / records.length),
    };
  } finally {
    await notifications.close();
    await handler.stop();
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  }
}
