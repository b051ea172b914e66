/**
 * `deno run -A tests/bench/ingest_path.ts`: the handler's CPU per event on its ingest path, in process and without
 * HTTP or a database, so that a change to parsing, minifying or COPY encoding can be measured in seconds. Prints one
 * JSON line `{"bench":"ingest_path", ...}` with the CPU microseconds per event (user + system, read with
 * process.cpuUsage; the least of BENCH_PATH_ROUNDS rounds, the one other processes disturbed least) of each stage on
 * its own and of the whole path:
 *
 * - `gunzip_us`: the gzip body decoded as the handler decodes it (handler/http/events/body_stream.ts);
 * - `split_us`: NDJSON framing and UTF-8 decoding of the decoded body (NdjsonLineSplitter);
 * - `parse_us`: parseRecordLine of every line;
 * - `row_us`: minified event and row of every parsed line (toEventRow);
 * - `copy_us`: COPY text of every row, as the bytes postgres.js sends (openCopy into a writable that takes them as
 *   postgres.js's COPY stream does);
 * - `path_us`: the whole path, request after request: decoded body → readBatchStream → RowFeed (dedupe, rows kept
 *   for the batch) → openCopy, with the batch's rows held until its end, as a request holds them.
 *
 * Run it with the handler image's V8 flags to see what ships (`--v8-flags=--max-semi-space-size=2`), and with
 * `--cpu-prof` to see where the time goes. Environment: BENCH_EVENTS (20000), BENCH_BATCH_RECORDS (1000),
 * BENCH_PATH_ROUNDS (7).
 */
import process from "node:process";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { encodeNdjson, NdjsonLineSplitter } from "../../shared/contract/ndjson.ts";
import { parseRecordLine } from "../../shared/contract/record_parser.ts";
import { toEventRow } from "../../shared/contract/event_row.ts";
import { DEFAULT_LIMITS } from "../../shared/contract/limits.ts";
import { toDecodedBodyStream } from "../../handler/http/events/body_stream.ts";
import { readBatchStream } from "../../handler/ingest/batch_reader.ts";
import { toMinifiedEvent } from "../../handler/ingest/minify.ts";
import { RowFeed } from "../../handler/ingest/row_feed.ts";
import { openCopy } from "../../handler/store/write/copy_writer.ts";
import { loadFixtureEvents, makeBenchRecords } from "./bench_events.ts";

const EVENTS = Number(Deno.env.get("BENCH_EVENTS") ?? 20_000);
const BATCH_RECORDS = Number(Deno.env.get("BENCH_BATCH_RECORDS") ?? 1_000);
const ROUNDS = Number(Deno.env.get("BENCH_PATH_ROUNDS") ?? 7);
const CLUSTER = "bench-path";
const LIMITS = { ...DEFAULT_LIMITS, bodyIdleTimeoutS: 60 };

/** CPU time this process has used, in milliseconds. */
function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** The least CPU microseconds per event of `run` over ROUNDS rounds (one warm-up round first). */
async function measure(run: () => unknown): Promise<number> {
  await run();
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = cpuMs();
    await run();
    rounds.push(cpuMs() - started);
  }
  rounds.sort((a, b) => a - b);
  return Math.round(rounds[0]! * 1000 / EVENTS * 100) / 100;
}

/**
 * A writable that takes the COPY data as postgres.js's COPY stream does: strings are turned into UTF-8 bytes by the
 * stream (decodeStrings), then each chunk is copied behind a 5-byte CopyData header. The data bytes are counted.
 */
function toCopySink(): { writable: Writable; bytes: () => number } {
  let bytes = 0;
  const header = new Uint8Array(5);
  const writable = new Writable({
    write(chunk: Uint8Array, _encoding, callback) {
      const message = new Uint8Array(header.length + chunk.length);
      message.set(header);
      message.set(chunk, header.length);
      bytes += chunk.length;
      callback();
    },
  });
  return { writable, bytes: () => bytes };
}

function toBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return toDecodedBodyStream(ReadableStream.from([bytes]), { encoding: "gzip", ...LIMITS });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** One request's path: rows parsed from the body as it is decoded, pulled by a RowFeed and written to a COPY. */
async function ingest(gzip: Uint8Array): Promise<number> {
  const batch = readBatchStream(toBody(gzip), { cluster: CLUSTER, ...LIMITS });
  const feed = new RowFeed(batch.chunks);
  const sink = toCopySink();
  const copy = await openCopy(() => Promise.resolve(sink.writable));
  for (let chunk = await feed.next(); chunk !== undefined; chunk = await feed.next()) await copy.write(chunk);
  const { finished } = await copy.end();
  await finished;
  if (batch.rejected.length > 0 || feed.rows.length !== batch.rows.length) {
    throw new Error(`Cannot measure the ingest path: ${batch.rejected.length} lines rejected`);
  }
  return sink.bytes();
}

/** The gzip NDJSON bodies of EVENTS bench records, BATCH_RECORDS a body, as the relay sends them. */
async function makeBodies(): Promise<Uint8Array[]> {
  const fixtures = await loadFixtureEvents();
  const records = makeBenchRecords(fixtures, { cluster: CLUSTER, count: EVENTS, end: new Date(), days: 3 });
  const bodies: Uint8Array[] = [];
  for (let offset = 0; offset < records.length; offset += BATCH_RECORDS) {
    const ndjson = new TextEncoder().encode(encodeNdjson(records.slice(offset, offset + BATCH_RECORDS)));
    bodies.push(new Uint8Array(gzipSync(ndjson, { level: 3 })));
  }
  return bodies;
}

/** CPU milliseconds of each stage for one body, run one after the other, each on the previous one's output. */
async function measureStages(body: Uint8Array, totals: Record<Stage, number>): Promise<number> {
  let started = cpuMs();
  const decoded = await readAll(toBody(body));
  totals.gunzip += cpuMs() - started;
  started = cpuMs();
  const lines: string[] = [];
  const splitter = new NdjsonLineSplitter({ lineBytesMax: LIMITS.lineBytesMax });
  for (const chunk of decoded) {
    for (const line of splitter.push(chunk)) if ("text" in line) lines.push(line.text);
  }
  for (const line of splitter.flush()) if ("text" in line) lines.push(line.text);
  totals.split += cpuMs() - started;
  started = cpuMs();
  const parseOptions = { jsonDepthMax: LIMITS.jsonDepthMax };
  const parsed = lines.map((text, i) => parseRecordLine(text, i + 1, parseOptions));
  totals.parse += cpuMs() - started;
  started = cpuMs();
  const rows = parsed.map((line) => {
    if (!line.ok || line.view === undefined) throw new Error("Cannot measure the ingest path: a line is invalid");
    return toEventRow(line.record, line.view, JSON.stringify(toMinifiedEvent(line.record, line.view)));
  });
  totals.row += cpuMs() - started;
  started = cpuMs();
  const sink = toCopySink();
  const copy = await openCopy(() => Promise.resolve(sink.writable));
  await copy.write(rows);
  await (await copy.end()).finished;
  totals.copy += cpuMs() - started;
  return sink.bytes();
}

type Stage = "gunzip" | "split" | "parse" | "row" | "copy";

async function main(): Promise<void> {
  const bodies = await makeBodies();
  const decodedBytes = (await Promise.all(bodies.map((body) => readAll(toBody(body))))).flat()
    .reduce((sum, chunk) => sum + chunk.length, 0);
  let pathBytes = 0;
  const pathUs = await measure(async () => {
    pathBytes = 0;
    for (const body of bodies) pathBytes += await ingest(body);
  });
  const stages: Record<Stage, number>[] = [];
  let copyBytes = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    const totals = { gunzip: 0, split: 0, parse: 0, row: 0, copy: 0 };
    copyBytes = 0;
    for (const body of bodies) copyBytes += await measureStages(body, totals);
    // The first round warms up.
    if (round > 0) stages.push(totals);
  }
  if (pathBytes !== copyBytes) throw new Error(`Cannot measure the ingest path: ${pathBytes} != ${copyBytes} bytes`);
  const least = (stage: Stage) =>
    Math.round(Math.min(...stages.map((totals) => totals[stage])) * 1000 / EVENTS * 100) / 100;
  console.log(JSON.stringify({
    bench: "ingest_path",
    events: EVENTS,
    batch_records: BATCH_RECORDS,
    line_bytes_avg: Math.round(decodedBytes / EVENTS),
    copy_bytes_avg: Math.round(copyBytes / EVENTS),
    gunzip_us: least("gunzip"),
    split_us: least("split"),
    parse_us: least("parse"),
    row_us: least("row"),
    copy_us: least("copy"),
    path_us: pathUs,
  }));
}

if (import.meta.main) await main();
