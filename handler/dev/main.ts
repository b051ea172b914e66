/**
 * `deno task dev`: the whole pipeline on one machine. PostgreSQL (embedded, data kept in the git-ignored `.data/`,
 * unless DATABASE_URL or DB_HOST is set), the handler on PORT (8080), and a relay (a child process) watching the
 * current kubeconfig context when its API server answers, else the built-in simulated cluster with a realistic
 * scenario. DEV_DATA_DIR moves `.data/` elsewhere. Prints where everything listens, a live status line, and how to query the rows. Ctrl-C stops the relay
 * first (it flushes what it queued), then the handler, then the embedded database.
 */
import { isDatabaseConfigured } from "../database_config.ts";
import { type EmbeddedDatabase, findFreePort, startEmbeddedDatabase } from "./embedded_database.ts";
import { serveApp } from "../http/server.ts";
import { prepareHandler } from "../start.ts";
import { toTokenHashHex } from "../http/token_hashes.ts";
import { toCurlCommand, toSampleEventRecord } from "./sample.ts";
import { type DevCounters, formatDevStatus, toDevCounters } from "./status.ts";
import { type DevCluster, startDevCluster } from "../../relay/simulator/dev_cluster.ts";

const DEFAULT_DATA_DIR = new URL("../../.data/", import.meta.url).pathname;
const RELAY_MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;
const STATUS_INTERVAL_MS = 2_000;
const LOG_STATUS_EVERY = 5;

async function readOrCreateToken(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const token = Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
    await Deno.writeTextFile(path, token + "\n", { mode: 0o600 });
    return token;
  }
}

/** KUBECONFIG's first path, else ~/.kube/config, when the file exists. */
async function findKubeconfig(env: Record<string, string | undefined>): Promise<string | undefined> {
  const path = env.KUBECONFIG?.split(":").find((p) => p !== "") ?? (env.HOME ? `${env.HOME}/.kube/config` : undefined);
  if (path === undefined) return undefined;
  try {
    await Deno.stat(path);
    return path;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Appends the process's output to a log file, so the terminal keeps only the summary and the status line. */
async function startRelay(env: Record<string, string>, logPath: string): Promise<Deno.ChildProcess> {
  const log = await Deno.open(logPath, { create: true, append: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", RELAY_MAIN],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const sink = log.writable.getWriter();
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await sink.write(chunk);
  };
  Promise.all([copy(child.stdout), copy(child.stderr)]).finally(() => sink.close());
  return child;
}

async function scrape(url: string): Promise<DevCounters | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return toDevCounters(await response.text());
  } catch {
    // A missed scrape only skips one status line.
    return undefined;
  }
}

/** Rewrites one status line in place on a terminal; elsewhere prints a line every `LOG_STATUS_EVERY` intervals. */
async function showStatus(metricsUrl: string, signal: AbortSignal): Promise<void> {
  const isTerminal = Deno.stdout.isTerminal();
  const every = isTerminal ? 1 : LOG_STATUS_EVERY;
  const encoder = new TextEncoder();
  let basis = await scrape(metricsUrl);
  let basisAt = performance.now();
  for (let tick = 1; !signal.aborted; tick++) {
    await new Promise((resolve) => setTimeout(resolve, STATUS_INTERVAL_MS));
    if (signal.aborted || tick % every !== 0) continue;
    const current = await scrape(metricsUrl);
    const at = performance.now();
    if (current === undefined) continue;
    if (basis !== undefined) {
      const line = formatDevStatus(basis, current, (at - basisAt) / 1000);
      if (isTerminal) await Deno.stdout.write(encoder.encode(`\r\x1b[2K${line}`));
      else console.log(line);
    }
    basis = current;
    basisAt = at;
  }
  if (isTerminal) await Deno.stdout.write(encoder.encode("\n"));
}

async function dev(): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const env = Deno.env.toObject();
  const dataDir = env.DEV_dataDir ? `${env.DEV_dataDir.replace(/\/$/, "")}/` : DEFAULT_DATA_DIR;
  await Deno.mkdir(dataDir, { recursive: true });
  let database: EmbeddedDatabase | undefined;
  let cluster: DevCluster | undefined;
  let relay: Deno.ChildProcess | undefined;
  try {
    if (!isDatabaseConfigured(env)) {
      console.log(`starting embedded PostgreSQL (data in ${dataDir}postgres)`);
      database = await startEmbeddedDatabase({ dataDir: `${dataDir}postgres`, isPersistent: true });
      env.DATABASE_URL = database.url;
    }
    cluster = await startDevCluster({
      kubeconfigPath: await findKubeconfig(env),
      simulatorKubeconfigPath: `${dataDir}simulator.kubeconfig`,
      probeTimeoutMs: 3_000,
    });
    // Each simulated cluster is new, with resourceVersions starting over: a name of its own keeps the previous
    // run's resume point (a version this cluster has not reached) from being used.
    const clusterName = env.CLUSTER_NAME ||
      (cluster.kind === "simulator" ? `dev-sim-${Date.now().toString(36)}` : "dev");
    const token = await readOrCreateToken(`${dataDir}dev_token`);
    const devHash = `${clusterName}=${await toTokenHashHex(token)}`;
    env.CLUSTER_TOKEN_HASHES = env.CLUSTER_TOKEN_HASHES ? `${env.CLUSTER_TOKEN_HASHES},${devHash}` : devHash;
    const handlerLog = await Deno.open(`${dataDir}handler.log`, { create: true, append: true });
    const encoder = new TextEncoder();
    const { app, config, store } = await prepareHandler(env, {
      signal: controller.signal,
      write: (line) => handlerLog.writeSync(encoder.encode(line + "\n")),
    });
    const handlerStop = new AbortController();
    const serving = serveApp({
      app,
      port: config.port,
      shutdownDeadlineS: config.shutdownDeadlineS,
      logger: {
        debug() {},
        info() {},
        warn() {},
        error() {},
        with() {
          return this;
        },
      },
      signal: handlerStop.signal,
    });
    const baseUrl = `http://localhost:${serving.port}`;

    const healthPort = await findFreePort();
    relay = await startRelay({
      ...env,
      CLUSTER_NAME: clusterName,
      HANDLER_URL: baseUrl,
      HANDLER_TOKEN: token,
      KUBECONFIG: cluster.kubeconfigPath,
      HEALTH_PORT: String(healthPort),
      FLUSH_INTERVAL_MS: env.FLUSH_INTERVAL_MS ?? "200",
      // Ctrl-C reaches the embedded database at the same moment, so a long flush deadline would only delay the exit.
      SHUTDOWN_DEADLINE_S: env.SHUTDOWN_DEADLINE_S ?? "3",
    }, `${dataDir}relay.log`);

    const record = toSampleEventRecord({ cluster: clusterName, now: new Date() });
    const clusterLine = cluster.kind === "simulator"
      ? `simulated cluster:  ${cluster.server}  (no cluster answered; kubeconfig ${cluster.kubeconfigPath})`
      : `cluster:            ${cluster.server}  (current context of ${cluster.kubeconfigPath})`;
    console.log([
      "",
      `events-ingester dev pipeline, cluster "${clusterName}"`,
      clusterLine,
      `relay:              probes and /metrics on http://localhost:${healthPort}  (log ${dataDir}relay.log)`,
      `handler:            ${baseUrl}  (/metrics, /readyz; log ${dataDir}handler.log; token ${token})`,
      `database:           ${config.databaseUrl.replace(/:[^:@/]*@/, ":***@")}`,
      "",
      "query the rows:",
      `  psql '${config.databaseUrl}' -c 'select created_at, namespace, resource_kind, resource_name, reason from k8s_events order by created_at desc limit 20'`,
      `  DATABASE_URL='${config.databaseUrl}' deno task tail`,
      "send an event by hand:",
      `  ${toCurlCommand({ baseUrl, token, records: [record] })}`,
      "",
      "Ctrl-C stops everything" + (database ? ", the embedded database included" : ""),
      "",
    ].join("\n"));

    const status = showStatus(`${baseUrl}/metrics`, controller.signal);
    const relayExit = relay.status;
    const stopped = await Promise.race([
      relayExit.then((s) => `relay exited with code ${s.code} (see ${dataDir}relay.log)`),
      new Promise<string>((resolve) => controller.signal.addEventListener("abort", () => resolve(""), { once: true })),
    ]);
    controller.abort();
    if (stopped !== "") console.error(stopped);
    console.log("stopping: relay");
    // The relay got SIGINT from the terminal too; signalling again is harmless and covers SIGTERM sent to dev only.
    try {
      relay.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await relayExit;
    await status;
    console.log("stopping: handler");
    handlerStop.abort();
    await serving.finished;
    await store.close();
    handlerLog.close();
    return stopped === "" ? 0 : 1;
  } catch (error) {
    // prepareHandler logged configuration and database problems to .data/handler.log; the cause is shown here.
    console.error(`dev pipeline failed: ${(error as Error).message} (see ${dataDir}handler.log)`);
    return 1;
  } finally {
    await cluster?.stop();
    if (database) console.log("stopping: embedded PostgreSQL");
    await database?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) Deno.exit(await dev());
