/**
 * Benchmark line `relay_lag`: how long an event takes from its creation in the cluster to its row in PostgreSQL,
 * with the relay and the handler running and the relay's default flush interval. The simulator (in this process)
 * creates `eventsPerS` events a second for `durationS` seconds against a relay process watching it and a handler
 * process writing for it; each event's lag is the time from its creation (createEvent returning) to the arrival of
 * its row's notification on channel `events` (sent by PostgreSQL once the row's transaction has committed), both read
 * on this process's monotonic clock. Reports the lag's p50, p99 and max in seconds, and the events created, stored
 * and notified.
 *
 * `deno run -A tests/bench/relay_lag.ts` runs it alone: BENCH_DATABASE_URL (else an embedded PostgreSQL),
 * BENCH_LAG_DURATION_S (60), BENCH_LAG_EVENTS_PER_S (1000), and the relay variables of relay_e2e.ts.
 */
import type { ObjectReference } from "../../relay/simulator/stores/kube_types.ts";
import { startSimulator } from "../../relay/simulator/simulator.ts";
import { openSql, withBenchDatabase } from "./bench_database.ts";
import { startHandlerProcess } from "./handler_process.ts";
import { readCpuMs, spawnRelay, toRelayEnv } from "./relay_e2e.ts";

export interface RelayLagOptions {
  databaseUrl: string;
  /** How long events are created; BENCH_LAG_DURATION_S, else 60. */
  durationS?: number;
  /** Events created a second; BENCH_LAG_EVENTS_PER_S, else 1,000. */
  eventsPerS?: number;
}

const CLUSTER = "bench-lag";
const TOKEN = "bench-lag-token";
const SCHEMA = "bench_relay_lag";
const NAMESPACE = "lag";
const PODS = 50;
/** Events created and awaited before the measured ones: the relay is then watching and the handler writing. */
const WARM_UP_EVENTS = 20;
const WARM_UP_TIMEOUT_MS = 120_000;
/** How long the stragglers may take after the last event was created before the run counts them as not stored. */
const DRAIN_TIMEOUT_MS = 60_000;
/** The generator creates the events that are due this often. */
const TICK_MS = 5;

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The value below which `fraction` of the sorted values lie (nearest rank). */
export function toPercentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile of no values");
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const toSeconds = (ms: number) => Math.round(ms) / 1000;

/** Waits until `isDone()` or `timeoutMs`; true when done. */
async function waitUntil(isDone: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!isDone() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return isDone();
}

/** Runs the benchmark and returns the `relay_lag` line. */
export async function measureRelayLag(options: RelayLagOptions): Promise<Record<string, unknown>> {
  const durationS = options.durationS ?? Number(Deno.env.get("BENCH_LAG_DURATION_S") ?? 60);
  const eventsPerS = options.eventsPerS ?? Number(Deno.env.get("BENCH_LAG_EVENTS_PER_S") ?? 1_000);
  if (!(durationS > 0) || !(eventsPerS > 0)) {
    throw new RangeError(`Cannot measure relay_lag: ${eventsPerS} events/s for ${durationS} s`);
  }
  const sql = openSql(options.databaseUrl, 2);
  await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  await sql.unsafe(`create schema ${SCHEMA}`);
  const simulator = await startSimulator({ eventTtlMs: 24 * 3600_000, watchWindowSize: 100_000 });
  const pods: ObjectReference[] = Array.from({ length: PODS }, (_, i) => {
    const pod = simulator.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `lag-${i}`, namespace: NAMESPACE, labels: { app: "lag", shard: String(i % 5) } },
    });
    return { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, namespace: NAMESPACE, uid: pod.metadata.uid };
  });
  const dir = await Deno.makeTempDir({ prefix: "bench-lag-" });
  await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
  const handler = await startHandlerProcess({
    DATABASE_URL: options.databaseUrl,
    DB_SCHEMA: SCHEMA,
    CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await sha256Hex(TOKEN)}`,
    PORT: "0",
    RETENTION_DAYS: "0",
  });
  /** Creation time (performance.now) of each event not yet notified, by uid; lags of those notified, in ms. */
  const createdMs = new Map<string, number>();
  const lagsMs: number[] = [];
  const listener = openSql(options.databaseUrl, 1);
  await listener.listen("events", (payload) => {
    const arrivedMs = performance.now();
    const globalUid = (JSON.parse(payload) as { global_uid: string }).global_uid;
    const uid = globalUid.slice(CLUSTER.length + 1);
    const created = createdMs.get(uid);
    if (created === undefined) return;
    createdMs.delete(uid);
    lagsMs.push(arrivedMs - created);
  });
  let n = 0;
  const create = () => {
    const pod = pods[n % PODS]!;
    n++;
    const event = simulator.createEvent({
      involvedObject: pod,
      reason: n % 10 === 0 ? "Unhealthy" : "Pulled",
      type: n % 10 === 0 ? "Warning" : "Normal",
      message: `Container image "registry.example.com/lag:v1" already present on machine (lag event ${n})`,
      source: { component: "kubelet", host: "node-1" },
    });
    createdMs.set(event.metadata.uid!, performance.now());
  };
  const relay = spawnRelay(toRelayEnv({
    kubeconfigPath: `${dir}/kubeconfig`,
    handlerUrl: handler.baseUrl,
    token: TOKEN,
    cluster: CLUSTER,
  }, "relay-lag"));
  try {
    for (let i = 0; i < WARM_UP_EVENTS; i++) create();
    if (!await waitUntil(() => createdMs.size === 0, WARM_UP_TIMEOUT_MS)) {
      throw new Error(`Cannot measure relay_lag: the warm-up events were not stored in ${WARM_UP_TIMEOUT_MS} ms`);
    }
    lagsMs.length = 0;
    const total = Math.round(durationS * eventsPerS);
    const handlerCpuBeforeMs = await handler.cpuMs();
    const relayCpuBeforeMs = readCpuMs(relay.pid) ?? 0;
    const started = performance.now();
    let created = 0;
    while (created < total) {
      const due = Math.min(total, Math.floor((performance.now() - started) * eventsPerS / 1000) + 1);
      for (; created < due; created++) create();
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
    const createdForS = (performance.now() - started) / 1000;
    await waitUntil(() => createdMs.size === 0, DRAIN_TIMEOUT_MS);
    const handlerCpuMs = await handler.cpuMs() - handlerCpuBeforeMs;
    const relayCpuMs = (readCpuMs(relay.pid) ?? relayCpuBeforeMs) - relayCpuBeforeMs;
    const stored = Number((await sql.unsafe(`select count(*)::int as n from ${SCHEMA}.k8s_events`))[0]!.n);
    const sorted = lagsMs.slice().sort((a, b) => a - b);
    return {
      bench: "relay_lag",
      duration_s: durationS,
      events_per_s: eventsPerS,
      created: total,
      created_for_s: Math.round(createdForS * 10) / 10,
      stored: stored - WARM_UP_EVENTS,
      notified: lagsMs.length,
      lag_p50_s: toSeconds(toPercentile(sorted, 0.5)),
      lag_p99_s: toSeconds(toPercentile(sorted, 0.99)),
      lag_max_s: toSeconds(sorted[sorted.length - 1]!),
      handler_cpu_us_per_event: Math.round(handlerCpuMs * 1000 / total * 10) / 10,
      relay_cpu_us_per_event: Math.round(relayCpuMs * 1000 / total * 10) / 10,
    };
  } finally {
    relay.kill("SIGTERM");
    await relay.status;
    await handler.stop();
    await listener.end({ timeout: 1 });
    await simulator.close();
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end({ timeout: 5 });
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  await withBenchDatabase("lag", async (url) => {
    console.log(JSON.stringify(await measureRelayLag({ databaseUrl: url })));
  });
}
