/**
 * End-to-end test support: a Kubernetes API simulator, the real handler on a real socket over a fresh PostgreSQL
 * schema, and relays (in-process, or child processes run as `deno task relay` runs them) wired to both. The handler sits
 * behind a small front that tests can switch to 503, slow down, or take off the network entirely.
 */
import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { createApp } from "../../handler/http/app.ts";
import { loadHandlerConfig } from "../../handler/config.ts";
import { createPostgresStore, type PostgresStore } from "../../handler/store/postgres_store.ts";
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { createKubeClient } from "../../relay/kube/kube_client.ts";
import { createRelayMetrics } from "../../relay/metrics.ts";
import { createRelay, type Relay } from "../../relay/relay.ts";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../relay/simulator/simulator.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import { uniqueSchemaName, withTestSchema } from "./database.ts";
import { relayV8FlagArgs } from "./relay_command.ts";
import postgres from "postgres";

export const CLUSTER = "e2e-cluster";
/** When set, child relays write their stdout and stderr to files starting with this path (debugging). */
const logFile = Deno.env.get("RELAY_E2E_LOG");
export const TOKEN = "e2e-token";

/** Settings that make elections, flushes and retries fast enough for tests. */
export const FAST_RELAY_ENV: Record<string, string> = {
  LEASE_DURATION_S: "2",
  LEASE_RENEW_DEADLINE_S: "1.5",
  LEASE_RETRY_PERIOD_S: "0.25",
  FLUSH_INTERVAL_MS: "50",
  RETRY_BACKOFF_MAX_MS: "300",
  SHUTDOWN_DEADLINE_S: "5",
  HEALTH_PORT: "0",
};

export type HandlerMode = { kind: "ok" } | { kind: "unavailable" } | { kind: "slow"; delayMs: number };

/** An in-process relay. `stop` is a graceful shutdown (SIGTERM's path). */
export interface InProcessRelay {
  relay: Relay;
  logs: string[];
  /** Bytes in the relay's queue now (0 while it is not leader). */
  queueBytes(): number;
  /** Event versions the relay has read and queued so far. */
  eventsQueued(): number;
  /** Queued versions storm control has replaced by a newer version so far (events_ingester.relay.versions_replaced). */
  versionsReplaced(): number;
  stop(): Promise<void>;
}

/** A relay child process. */
export interface RelayProcess {
  child: Deno.ChildProcess;
  /** Sends `signal` and waits for the exit. */
  kill(signal: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Resident set size in bytes (from /proc), undefined once exited. */
  rssBytes(): number | undefined;
}

export interface Pipeline {
  simulator: Simulator;
  kubeconfigPath: string;
  /** URL of the handler front. */
  handlerUrl: string;
  sql: postgres.Sql;
  schema: string;
  store: PostgresStore;
  handlerLogs: string[];
  setHandlerMode(mode: HandlerMode): void;
  /** Closes the handler's listening socket (connections are refused) until `startHandler`. */
  stopHandler(): Promise<void>;
  startHandler(): void;
  /** The environment a relay of this pipeline runs with; `env` overrides it. */
  relayEnv(podName: string, env?: Record<string, string>): Record<string, string>;
  startRelay(podName: string, env?: Record<string, string>): Promise<InProcessRelay>;
  spawnRelay(podName: string, env?: Record<string, string>): RelayProcess;
  /** Every stored (uid, resourceVersion) of the cluster, sorted. */
  storedVersions(): Promise<{ uid: string; resourceVersion: string }[]>;
  /** Stored gap records, oldest first. */
  gaps(): Promise<{ from: string | null; to: string; reason: string }[]>;
  checkpoint(): Promise<string | null>;
}

/** Sorted copy, for comparing sets of versions. */
export function sortVersions(versions: { uid: string; resourceVersion: string }[]) {
  return versions.map(({ uid, resourceVersion }) => ({ uid, resourceVersion })).sort((a, b) =>
    a.uid === b.uid ? compareText(a.resourceVersion, b.resourceVersion) : compareText(a.uid, b.uid)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Polls `check` every 50 ms until it returns true; fails with `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits until the stored resume point is at or past `resourceVersion`. The simulator's versions are integers, so
 * the test may order them (the relay itself only compares them for equality); Lease renewals advance the global
 * version too, so tests wait for a position rather than for the simulator's current version.
 */
export async function waitForCheckpoint(pipeline: Pipeline, resourceVersion: string, timeoutMs = 20_000) {
  await waitUntil(`the checkpoint reaches ${resourceVersion}`, async () => {
    const checkpoint = await pipeline.checkpoint();
    return checkpoint !== null && Number(checkpoint) >= Number(resourceVersion);
  }, timeoutMs);
}

/** Waits until the stored versions equal the simulator's emitted versions, then asserts they do exactly. */
export async function assertAllStored(pipeline: Pipeline, timeoutMs = 30_000): Promise<void> {
  const expected = sortVersions(pipeline.simulator.emittedVersions());
  let stored: { uid: string; resourceVersion: string }[] = [];
  await waitUntil(`${expected.length} versions are stored`, async () => {
    stored = await pipeline.storedVersions();
    return stored.length >= expected.length;
  }, timeoutMs);
  assert.deepEqual(stored, expected);
}

/** Runs `fn` with a fresh pipeline and tears everything down afterwards (relays it started included). */
export async function withPipeline(
  fn: (pipeline: Pipeline) => Promise<void>,
  options: { simulator?: SimulatorOptions; databaseUrl?: string } = {},
): Promise<void> {
  const withSchema = options.databaseUrl === undefined
    ? withTestSchema
    : (body: (schema: string, sql: postgres.Sql) => Promise<void>) => withOwnSchema(options.databaseUrl!, body);
  await withSchema(async (schema, sql) => {
    const simulator = await startSimulator(options.simulator);
    const dir = await Deno.makeTempDir({ prefix: "relay-e2e-" });
    const kubeconfigPath = `${dir}/kubeconfig`;
    await Deno.writeTextFile(kubeconfigPath, simulator.kubeconfig());
    const config = loadHandlerConfig({
      DATABASE_URL: options.databaseUrl ?? Deno.env.get("TEST_DATABASE_URL"),
      DB_SCHEMA: schema,
      DB_POOL_MAX: "4",
      RETENTION_DAYS: "0",
      CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await toTokenHashHex(TOKEN)}`,
    });
    const handlerLogs: string[] = [];
    const handlerLogger = createLogger({ isDebug: false, write: (line) => handlerLogs.push(line) });
    const store = createPostgresStore({
      url: config.databaseUrl,
      schema,
      poolMax: 4,
      retentionDays: 0,
      connectTimeoutS: 5,
      logger: handlerLogger,
    });
    await store.migrate();
    const app = createApp({ config, store, logger: handlerLogger });
    let mode: HandlerMode = { kind: "ok" };
    const front = async (request: Request): Promise<Response> => {
      if (mode.kind === "unavailable") {
        await request.body?.cancel();
        return Response.json(
          { type: "about:blank", title: "Unavailable", status: 503, code: "UNAVAILABLE", detail: "test" },
          { status: 503, headers: { "retry-after": "0" } },
        );
      }
      if (mode.kind === "slow") {
        await new Promise((resolve) => setTimeout(resolve, (mode as { delayMs: number }).delayMs));
      }
      return await app.fetch(request);
    };
    let server: Deno.HttpServer<Deno.NetAddr> | undefined = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      front,
    );
    const port = server.addr.port;
    const handlerUrl = `http://127.0.0.1:${port}`;
    const relayV8Flags = await relayV8FlagArgs();
    const inProcess: InProcessRelay[] = [];
    const processes: RelayProcess[] = [];

    const relayEnv = (podName: string, env: Record<string, string> = {}) => ({
      KUBECONFIG: kubeconfigPath,
      HANDLER_URL: handlerUrl,
      HANDLER_TOKEN: TOKEN,
      CLUSTER_NAME: CLUSTER,
      POD_NAME: podName,
      ...FAST_RELAY_ENV,
      ...env,
    });

    const pipeline: Pipeline = {
      simulator,
      kubeconfigPath,
      handlerUrl,
      sql,
      schema,
      store,
      handlerLogs,
      setHandlerMode(next) {
        mode = next;
      },
      async stopHandler() {
        await server?.shutdown();
        server = undefined;
      },
      startHandler() {
        server ??= Deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, front);
      },
      relayEnv,
      async startRelay(podName, env = {}) {
        const config = loadRelayConfig(relayEnv(podName, env));
        const logs: string[] = [];
        const logger = createLogger({ isDebug: true, write: (line) => logs.push(line) }, { pod: podName });
        const kube = await createKubeClient({ connection: config.kube });
        const metrics = createRelayMetrics(createNoopMeter());
        let readQueue = () => ({ bytes: 0, records: 0 });
        let eventsQueued = 0;
        const observeQueue = metrics.observeQueue;
        metrics.observeQueue = (read) => {
          readQueue = read;
          observeQueue(read);
        };
        const queuedCounter = metrics.eventsDispatched;
        metrics.eventsDispatched = {
          add(value: number, attributes?: Record<string, string>) {
            eventsQueued += value;
            queuedCounter.add(value, attributes);
          },
        };
        let versionsReplaced = 0;
        const replacedCounter = metrics.versionsReplaced;
        metrics.versionsReplaced = {
          add(value: number, attributes?: Record<string, string>) {
            versionsReplaced += value;
            replacedCounter.add(value, attributes);
          },
        };
        const relay = createRelay({
          config,
          cluster: config.clusterName!,
          kube,
          readToken: () => Promise.resolve(TOKEN),
          logger,
          metrics,
        });
        const controller = new AbortController();
        const running = relay.run(controller.signal).finally(() => kube.close());
        let isStopped = false;
        const handle: InProcessRelay = {
          relay,
          logs,
          queueBytes: () => readQueue().bytes,
          eventsQueued: () => eventsQueued,
          versionsReplaced: () => versionsReplaced,
          async stop() {
            if (!isStopped) controller.abort();
            isStopped = true;
            await running;
          },
        };
        inProcess.push(handle);
        return handle;
      },
      spawnRelay(podName, env = {}) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", ...relayV8Flags, new URL("../../relay/main.ts", import.meta.url).pathname],
          env: relayEnv(podName, env),
          clearEnv: true,
          stdin: "null",
          stdout: logFile === undefined ? "null" : "piped",
          stderr: logFile === undefined ? "null" : "piped",
        }).spawn();
        if (logFile !== undefined) {
          const file = Deno.openSync(`${logFile}.${podName}.${child.pid}`, { write: true, create: true });
          void child.stdout.pipeTo(file.writable);
          void child.stderr.pipeTo(
            Deno.openSync(`${logFile}.${podName}.${child.pid}.err`, { write: true, create: true }).writable,
          );
        }
        let exited = false;
        const status = child.status.finally(() => (exited = true));
        const handle: RelayProcess = {
          child,
          async kill(signal) {
            if (!exited) child.kill(signal);
            return await status;
          },
          rssBytes() {
            if (exited) return undefined;
            try {
              const text = Deno.readTextFileSync(`/proc/${child.pid}/status`);
              const kb = Number(/VmRSS:\s+(\d+)/.exec(text)?.[1]);
              return Number.isFinite(kb) ? kb * 1024 : undefined;
            } catch {
              return undefined; // The process exited between the check and the read.
            }
          },
        };
        processes.push(handle);
        return handle;
      },
      async storedVersions() {
        const rows = await sql.unsafe<{ uid: string; resource_version: string }[]>(
          `select uid, resource_version from "${schema}".k8s_events where cluster_name = $1`,
          [CLUSTER],
        );
        return sortVersions(rows.map((r) => ({ uid: r.uid, resourceVersion: r.resource_version })));
      },
      async gaps() {
        const rows = await sql.unsafe<{ from_version: string | null; to_version: string; reason: string }[]>(
          `select from_version, to_version, reason from "${schema}".ingester_gaps where cluster = $1 order by id`,
          [CLUSTER],
        );
        return rows.map((r) => ({ from: r.from_version, to: r.to_version, reason: r.reason }));
      },
      async checkpoint() {
        return (await store.readCheckpoint(CLUSTER)).resumeVersion;
      },
    };
    try {
      await fn(pipeline);
    } finally {
      for (const relay of inProcess) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stuck = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`Cannot stop a relay within 15 s; its last logs:\n${relay.logs.slice(-15).join("\n")}`));
          }, 15_000);
        });
        try {
          await Promise.race([relay.stop(), stuck]);
        } finally {
          clearTimeout(timer);
        }
      }
      for (const process of processes) await process.kill("SIGKILL");
      await server?.shutdown();
      await simulator.close();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** withTestSchema for a database other than TEST_DATABASE_URL (an embedded one a test restarts). */
async function withOwnSchema(url: string, fn: (schema: string, sql: postgres.Sql) => Promise<void>): Promise<void> {
  const schema = uniqueSchemaName();
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await sql.unsafe(`create schema "${schema}"`);
  try {
    await fn(schema, sql);
  } finally {
    await sql.unsafe(`drop schema "${schema}" cascade`).catch(() => undefined); // the server may be gone already
    await sql.end();
  }
}
