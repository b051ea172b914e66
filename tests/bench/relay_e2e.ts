/**
 * Benchmark line `relay_e2e` (issue 3 section 4): the simulator holds `events` live events; a relay (relay/main.ts in
 * a child process, so its RSS is its own) cold-starts, lists and sends them all through the real handler (also a child
 * process) into PostgreSQL. Reports the end-to-end rate, its ratio to the same run's `handler_ingest` rate, the relay's
 * peak RSS, its RSS when the 10,000th and the last event were stored, and an idle standby's RSS.
 *
 * `deno task bench` calls `measureRelayE2e`; `deno run -A tests/bench/relay_e2e.ts` runs it alone (BENCH_DATABASE_URL,
 * else an embedded PostgreSQL; BENCH_EVENTS, default 100000; BENCH_HANDLER_EVENTS_PER_S for the ratio).
 */
import postgres from "postgres";
import { startEmbeddedDatabase } from "../../handler/embedded_database.ts";
import { startSimulator } from "../../relay/simulator/simulator.ts";
import { startHandlerProcess } from "./handler_process.ts";

export interface RelayE2eOptions {
  databaseUrl: string;
  /** Live events in the simulator. */
  events: number;
  /** The same run's `handler_ingest` events_per_s; the ratio is omitted when undefined. */
  handlerEventsPerS?: number;
}

const CLUSTER = "bench-relay";
const TOKEN = "bench-relay-token";
const SCHEMA = "bench_relay";
const MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;
const MIB = 1024 * 1024;
/** Extra `--v8-flags=...` for the relay child (BENCH_RELAY_V8_FLAGS), to compare heap settings. */
const V8_FLAGS = Deno.env.get("BENCH_RELAY_V8_FLAGS") ? [`--v8-flags=${Deno.env.get("BENCH_RELAY_V8_FLAGS")}`] : [];

function readStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return match ? Number(match[1]) : undefined;
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

function spawnRelay(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...V8_FLAGS, MAIN],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
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
    await simulator.burst({ count: options.events });
    await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
    const env = (podName: string) => ({
      KUBECONFIG: `${dir}/kubeconfig`,
      HANDLER_URL: handler.baseUrl,
      HANDLER_TOKEN: TOKEN,
      CLUSTER_NAME: CLUSTER,
      POD_NAME: podName,
      HEALTH_PORT: "0",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
    });
    const started = performance.now();
    const relay = spawnRelay(env("relay-leader"));
    children.push(relay);
    let rssAt10kKb: number | undefined;
    let stored = 0;
    const deadline = Date.now() + 600_000;
    while (stored < options.events) {
      if (Date.now() > deadline) throw new Error(`Cannot finish relay_e2e: ${stored} of ${options.events} stored in 600 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      stored = Number((await sql.unsafe(`select count(*)::int as n from ${SCHEMA}.k8s_events`))[0]!.n);
      if (rssAt10kKb === undefined && stored >= 10_000) rssAt10kKb = readStatusKb(relay.pid, "VmRSS");
    }
    const ms = performance.now() - started;
    const rssAtEndKb = readStatusKb(relay.pid, "VmRSS");
    const peakKb = readStatusKb(relay.pid, "VmHWM");
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
      handler_ingest_events_per_s: options.handlerEventsPerS ?? null,
      ratio_vs_handler: options.handlerEventsPerS === undefined
        ? null
        : Math.round(eventsPerS / options.handlerEventsPerS * 100) / 100,
      relay_peak_rss_mib: toMib(peakKb),
      relay_rss_at_10k_mib: toMib(rssAt10kKb),
      relay_rss_at_end_mib: toMib(rssAtEndKb),
      standby_rss_mib: toMib(standbyKb),
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

if (import.meta.main) {
  let url = Deno.env.get("BENCH_DATABASE_URL");
  let stop = async () => {};
  if (!url) {
    const dataDir = await Deno.makeTempDir({ prefix: "bench-relay-pg-" });
    const database = await startEmbeddedDatabase({ dataDir, isPersistent: false });
    url = database.url;
    stop = () => database.stop();
  }
  try {
    const handlerRate = Deno.env.get("BENCH_HANDLER_EVENTS_PER_S");
    console.log(JSON.stringify(
      await measureRelayE2e({
        databaseUrl: url,
        events: Number(Deno.env.get("BENCH_EVENTS") ?? 100_000),
        handlerEventsPerS: handlerRate === undefined ? undefined : Number(handlerRate),
      }),
    ));
  } finally {
    await stop();
  }
}
