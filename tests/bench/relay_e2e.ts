/**
 * Benchmark line `relay_e2e`: the simulator holds `events` live events; a relay (relay/main.ts in
 * a child process, run with the relay's own V8 flags, so its RSS is its own) cold-starts, lists and sends them all
 * through the real handler (also a child process) into PostgreSQL. Reports `events_per_s` end to end,
 * `ratio_vs_handler` against the `handler_ingest` rate (given by the caller, else measured in the same run by posting
 * the same events, gzip NDJSON in batches of 5,000 as the relay's default, straight to a fresh handler),
 * `relay_peak_rss_mib`, `relay_rss_at_10k_events_mib` and `relay_rss_at_100k_events_mib` (RSS when the 10,000th and
 * 100,000th event were stored) and `standby_rss_mib` (an idle standby's RSS).
 *
 * `deno run -A tests/bench/relay_e2e.ts` runs it alone: BENCH_DATABASE_URL (else an embedded PostgreSQL), BENCH_EVENTS
 * (100000), BENCH_HANDLER_EVENTS_PER_S (skip measuring the handler), BENCH_RELAY_V8_FLAGS (replaces the relay's
 * `RELAY_V8_FLAGS`, "none" for V8's defaults), BENCH_RELAY_ENV (JSON of extra relay variables), BENCH_RELAY_MAIN (another
 * relay/main.ts, to compare versions in one run), BENCH_RELAY_LOG (relay stdout to `<path>.<pod>`, DEBUG on).
 */
import postgres from "postgres";
import { withBenchDatabase } from "./bench_database.ts";
import type { CoreV1Event } from "../../relay/simulator/stores/kube_types.ts";
import { startSimulator } from "../../relay/simulator/simulator.ts";
import { EVENTS_PATH, NDJSON_CONTENT_TYPE } from "../../shared/contract/protocol.ts";
import { RECORD_VERSION } from "../../shared/contract/records.ts";
import { startHandlerProcess } from "./handler_process.ts";
import { readRelayTaskV8Flags } from "../support/relay_command.ts";

export interface RelayE2eOptions {
  databaseUrl: string;
  /** Live events in the simulator. */
  events: number;
  /** The same run's `handler_ingest` events_per_s; measured here, on the same events, when undefined. */
  handlerEventsPerS?: number;
}

const CLUSTER = "bench-relay";
const TOKEN = "bench-relay-token";
const SCHEMA = "bench_relay";
const MAIN = Deno.env.get("BENCH_RELAY_MAIN") ?? new URL("../../relay/main.ts", import.meta.url).pathname;
const MIB = 1024 * 1024;
const HANDLER_BATCH_RECORDS = 5_000;
/** Extra `deno run` arguments for the leader (BENCH_RELAY_ARGS, JSON array), e.g. `["--inspect=127.0.0.1:9229"]`. */
const EXTRA_ARGS = JSON.parse(Deno.env.get("BENCH_RELAY_ARGS") ?? "[]") as string[];
/** When set (BENCH_RELAY_LOG), each relay's stdout goes to `<path>.<pod name>` with DEBUG on. */
const LOG_PATH = Deno.env.get("BENCH_RELAY_LOG");
/** The relay's V8 flags (those of the `relay` task in deno.json), or BENCH_RELAY_V8_FLAGS ("none": V8's defaults). */
const V8_FLAGS_TEXT = Deno.env.get("BENCH_RELAY_V8_FLAGS") ?? await readRelayTaskV8Flags();
const V8_FLAGS = V8_FLAGS_TEXT === "none" || V8_FLAGS_TEXT === "" ? [] : [`--v8-flags=${V8_FLAGS_TEXT}`];
/**
 * Unless BENCH_RELAY_FORCED_GC is "0" (a relay/main.ts without the hook, which SIGUSR2 would kill): the leader runs
 * with `--expose-gc`, and relay/main.ts's forced-GC hook (SIGUSR2) collects before the RSS at 10k / 100k events is read.
 */
const IS_FORCED_GC = Deno.env.get("BENCH_RELAY_FORCED_GC") !== "0";
/** How long a forced collection is given before the RSS is read. */
const FORCED_GC_SETTLE_MS = 300;

function readStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return match ? Number(match[1]) : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined; // the process has exited
    throw error;
  }
}

/** CPU time (user + system) the process has used, in ms; /proc counts clock ticks of 10 ms. */
export function readCpuMs(pid: number): number | undefined {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined; // the process has exited
    throw error;
  }
}

const toMib = (kb: number | undefined) => kb === undefined ? null : Math.round(kb * 1024 / MIB * 10) / 10;

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The RSS after a full collection in the relay (its SIGUSR2 hook), in kB; undefined when the process is gone. */
async function readRssAfterGcKb(child: Deno.ChildProcess): Promise<number | undefined> {
  child.kill("SIGUSR2");
  await new Promise((resolve) => setTimeout(resolve, FORCED_GC_SETTLE_MS));
  return readStatusKb(child.pid, "VmRSS");
}

/** What a relay of the benchmark is pointed at. */
export interface RelayTarget {
  kubeconfigPath: string;
  handlerUrl: string;
  token: string;
  cluster: string;
}

/**
 * The environment of a relay process of the benchmark (cleared of everything else): `target`, the pod name, DEBUG
 * when BENCH_RELAY_LOG is set, and BENCH_RELAY_ENV's extra variables.
 */
export function toRelayEnv(target: RelayTarget, podName: string): Record<string, string> {
  return {
    KUBECONFIG: target.kubeconfigPath,
    HANDLER_URL: target.handlerUrl,
    HANDLER_TOKEN: target.token,
    CLUSTER_NAME: target.cluster,
    POD_NAME: podName,
    HEALTH_PORT: "0",
    DEBUG: LOG_PATH === undefined ? "false" : "true",
    ...JSON.parse(Deno.env.get("BENCH_RELAY_ENV") ?? "{}") as Record<string, string>,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
  };
}

/** Starts a relay process (BENCH_RELAY_MAIN, with the relay's V8 flags) with exactly `env`; `isForcedGc` adds
 * `--expose-gc` so the relay's SIGUSR2 hook can collect before an RSS reading. */
export function spawnRelay(env: Record<string, string>, options: { isForcedGc?: boolean } = {}): Deno.ChildProcess {
  const flags = options.isForcedGc
    ? [V8_FLAGS.length === 0 ? "--v8-flags=--expose-gc" : `${V8_FLAGS[0]},--expose-gc`]
    : V8_FLAGS;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...flags, ...EXTRA_ARGS, MAIN],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: LOG_PATH === undefined ? "null" : "piped",
    stderr: "null",
  }).spawn();
  if (LOG_PATH !== undefined) {
    void child.stdout.pipeTo(
      Deno.openSync(`${LOG_PATH}.${env.POD_NAME}`, { write: true, create: true, truncate: true }).writable,
    );
  }
  return child;
}

/** Runs the benchmark and returns the `relay_e2e` line. */
export async function measureRelayE2e(options: RelayE2eOptions): Promise<Record<string, unknown>> {
  const sql = postgres(options.databaseUrl, { max: 2, onnotice: () => {} });
  await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  await sql.unsafe(`create schema ${SCHEMA}`);
  const simulator = await startSimulator({ eventTtlMs: 24 * 3600_000, watchWindowSize: 10_000 });
  const dir = await Deno.makeTempDir({ prefix: "bench-relay-" });
  const children: Deno.ChildProcess[] = [];
  const handler = await startHandlerProcess({
    DATABASE_URL: options.databaseUrl,
    DB_SCHEMA: SCHEMA,
    CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await sha256Hex(TOKEN)}`,
    PORT: "0",
    RETENTION_DAYS: "0",
  });
  try {
    const events = await simulator.burst({ count: options.events });
    const handlerEventsPerS = options.handlerEventsPerS ??
      await measureHandlerIngest(options.databaseUrl, sql, events);
    await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
    const target = { kubeconfigPath: `${dir}/kubeconfig`, handlerUrl: handler.baseUrl, token: TOKEN, cluster: CLUSTER };
    const env = (podName: string) => toRelayEnv(target, podName);
    const handlerCpuBeforeMs = await handler.cpuMs();
    const benchCpuBeforeMs = readCpuMs(Deno.pid)!;
    const started = performance.now();
    const relay = spawnRelay(env("relay-leader"), { isForcedGc: IS_FORCED_GC });
    children.push(relay);
    let rssAt10kKb: number | undefined;
    let rssAt100kKb: number | undefined;
    let gcRssAt10kKb: number | undefined;
    let gcRssAt100kKb: number | undefined;
    let stored = 0;
    const deadline = Date.now() + 600_000;
    while (stored < options.events) {
      if (Date.now() > deadline) {
        throw new Error(`Cannot finish relay_e2e: ${stored} of ${options.events} stored in 600 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      stored = Number((await sql.unsafe(`select count(*)::int as n from ${SCHEMA}.k8s_events`))[0]!.n);
      if (rssAt10kKb === undefined && stored >= 10_000) {
        rssAt10kKb = readStatusKb(relay.pid, "VmRSS");
        if (IS_FORCED_GC) gcRssAt10kKb = await readRssAfterGcKb(relay);
      }
      if (rssAt100kKb === undefined && stored >= 100_000) rssAt100kKb = readStatusKb(relay.pid, "VmRSS");
    }
    const ms = performance.now() - started;
    const peakKb = readStatusKb(relay.pid, "VmHWM");
    const cpuMs = readCpuMs(relay.pid);
    if (IS_FORCED_GC && rssAt100kKb !== undefined) gcRssAt100kKb = await readRssAfterGcKb(relay);
    const handlerCpuMs = await handler.cpuMs() - handlerCpuBeforeMs;
    const simulatorCpuMs = readCpuMs(Deno.pid)! - benchCpuBeforeMs;
    const standby = spawnRelay(env("relay-standby"));
    children.push(standby);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const standbyKb = readStatusKb(standby.pid, "VmRSS");
    const eventsPerS = Math.round(options.events / (ms / 1000));
    return {
      bench: "relay_e2e",
      events: options.events,
      stored,
      events_per_s: eventsPerS,
      handler_ingest_events_per_s: handlerEventsPerS,
      ratio_vs_handler: Math.round(eventsPerS / handlerEventsPerS * 100) / 100,
      relay_peak_rss_mib: toMib(peakKb),
      relay_rss_at_10k_events_mib: toMib(rssAt10kKb),
      relay_rss_at_100k_events_mib: toMib(rssAt100kKb),
      relay_gc_rss_at_10k_events_mib: toMib(gcRssAt10kKb),
      relay_gc_rss_at_100k_events_mib: toMib(gcRssAt100kKb),
      relay_gc_rss_growth_pct: gcRssAt10kKb === undefined || gcRssAt100kKb === undefined
        ? null
        : Math.round((gcRssAt100kKb / gcRssAt10kKb - 1) * 1000) / 10,
      standby_rss_mib: toMib(standbyKb),
      relay_cpu_us_per_event: cpuMs === undefined ? null : Math.round(cpuMs * 1000 / options.events),
      handler_cpu_us_per_event: Math.round(handlerCpuMs * 1000 / options.events),
      simulator_cpu_us_per_event: Math.round(simulatorCpuMs * 1000 / options.events),
      relay_v8_flags: V8_FLAGS_TEXT,
      seconds: Math.round(ms / 100) / 10,
    };
  } finally {
    for (const child of children) {
      child.kill("SIGTERM");
      await child.status;
    }
    await handler.stop();
    await simulator.close();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The handler's own rate for the same events: gzip NDJSON batches of HANDLER_BATCH_RECORDS (built before timing), posted
 * one after another to a fresh handler process on its own schema, as one relay would send them.
 */
async function measureHandlerIngest(databaseUrl: string, sql: postgres.Sql, events: CoreV1Event[]): Promise<number> {
  const schema = `${SCHEMA}_handler`;
  const cluster = `${CLUSTER}-direct`;
  await sql.unsafe(`drop schema if exists ${schema} cascade`);
  await sql.unsafe(`create schema ${schema}`);
  const observedAt = new Date().toISOString();
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  for (let offset = 0; offset < events.length; offset += HANDLER_BATCH_RECORDS) {
    const lines = events.slice(offset, offset + HANDLER_BATCH_RECORDS).map((event) => {
      const { managedFields: _, ...metadata } = event.metadata as Record<string, unknown>;
      const record = { v: RECORD_VERSION, kind: "event", cluster, observedAt, event: { ...event, metadata } };
      return JSON.stringify(record) + "\n";
    });
    const stream = new Blob(lines).stream().pipeThrough(new CompressionStream("gzip"));
    bodies.push(new Uint8Array(await new Response(stream).arrayBuffer()));
  }
  const handler = await startHandlerProcess({
    DATABASE_URL: databaseUrl,
    DB_SCHEMA: schema,
    CLUSTER_TOKEN_HASHES: `${cluster}=${await sha256Hex(TOKEN)}`,
    PORT: "0",
    RETENTION_DAYS: "0",
  });
  try {
    const started = performance.now();
    for (const body of bodies) {
      const response = await fetch(`${handler.baseUrl}${EVENTS_PATH}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": NDJSON_CONTENT_TYPE,
          "content-encoding": "gzip",
        },
        body,
      });
      const text = await response.text();
      if (response.status !== 200) {
        throw new Error(`Cannot measure handler_ingest: HTTP ${response.status} ${text.slice(0, 300)}`);
      }
    }
    return Math.round(events.length / ((performance.now() - started) / 1000));
  } finally {
    await handler.stop();
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
  }
}

if (import.meta.main) {
  await withBenchDatabase("relay", async (url) => {
    const handlerRate = Deno.env.get("BENCH_HANDLER_EVENTS_PER_S");
    console.log(JSON.stringify(
      await measureRelayE2e({
        databaseUrl: url,
        events: Number(Deno.env.get("BENCH_EVENTS") ?? 100_000),
        handlerEventsPerS: handlerRate === undefined ? undefined : Number(handlerRate),
      }),
    ));
  });
}
