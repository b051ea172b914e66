/**
 * `deno task dev`: the whole pipeline on one machine. PostgreSQL (embedded, data kept in the git-ignored `.data/`,
 * unless DATABASE_URL or DB_HOST is set), the handler on PORT (8080) in this process, and two child processes: the
 * built-in simulated cluster running a realistic scenario, and a relay watching it. DEV_CLUSTER=kubeconfig watches
 * the current kubeconfig context instead (named in the banner before the relay starts). DEV_DATA_DIR moves `.data/`
 * elsewhere. Prints where everything listens, a live status line, and how to query the rows. Ctrl-C stops the relay
 * first (it flushes what it queued), then the handler, the simulator and the embedded database.
 *
 * The relay and the simulator run as processes, exactly as `deno task relay` runs the relay: the handler's code never
 * imports the relay's.
 */
import { isDatabaseConfigured } from "../database_config.ts";
import { type EmbeddedDatabase, findFreePort, startEmbeddedDatabase } from "./embedded_database.ts";
import { serveApp, type ServingApp } from "../http/server.ts";
import { type PreparedHandler, prepareHandler } from "../start.ts";
import { toTokenHashHex } from "../http/token_hashes.ts";
import { toCurlCommand, toSampleEventRecord } from "./sample.ts";
import { type DevCounters, formatDevStatus, toDevCounters } from "./status.ts";
import { type DevClusterChoice, readDevClusterChoice } from "./cluster_choice.ts";
import { type LoggedProcess, startLoggedProcess } from "./logged_process.ts";

const DEFAULT_DATA_DIR = new URL("../../.data/", import.meta.url).pathname;
const RELAY_MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;
const SIMULATOR_MAIN = new URL("../../relay/simulator/main.ts", import.meta.url).pathname;
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

/** The data folder: DEV_DATA_DIR (with a trailing slash) or the repository's `.data/`. */
export function toDevDataDir(env: Record<string, string | undefined>): string {
  const dir = env.DEV_DATA_DIR?.trim();
  return dir ? `${dir.replace(/\/+$/, "")}/` : DEFAULT_DATA_DIR;
}

interface DevCluster {
  kubeconfigPath: string;
  server: string;
  /** The banner's line for the cluster. */
  describe: string;
  /** The simulator's process; undefined for a kubeconfig cluster. */
  simulator: LoggedProcess | undefined;
}

/** Starts the simulator process, or takes the chosen kubeconfig context as it is. */
async function startDevCluster(
  choice: DevClusterChoice,
  options: { env: Record<string, string>; dataDir: string },
): Promise<DevCluster> {
  if (choice.kind === "kubeconfig") {
    return {
      kubeconfigPath: choice.kubeconfigPath,
      server: choice.server,
      describe: `cluster:            ${choice.server}  (context "${choice.context}" of ${choice.kubeconfigPath}, ` +
        "DEV_CLUSTER=kubeconfig)",
      simulator: undefined,
    };
  }
  const kubeconfigPath = `${options.dataDir}simulator.kubeconfig`;
  const simulator = await startLoggedProcess({
    args: ["run", "-A", SIMULATOR_MAIN, "--port=0", `--kubeconfig=${kubeconfigPath}`],
    env: options.env,
    logPath: `${options.dataDir}simulator.log`,
  });
  const listening = JSON.parse(await simulator.waitForLine(/"msg":"simulator listening"/)) as { url: string };
  return {
    kubeconfigPath,
    server: listening.url,
    describe: `simulated cluster:  ${listening.url}  (DEV_CLUSTER=kubeconfig watches your current context instead)`,
    simulator,
  };
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

/**
 * The cluster name the dev relay sends: CLUSTER_NAME when set; for the simulator a name of its own per run
 * (`dev-sim-<nowMs in base 36>`), else `dev`.
 */
export function toDevClusterName(
  env: Record<string, string | undefined>,
  cluster: { kind: DevClusterChoice["kind"]; nowMs: number },
): string {
  // Each simulated cluster is new, with resourceVersions starting over: a name of its own keeps the previous
  // run's resume point (a version this cluster has not reached) from being used.
  return env.CLUSTER_NAME || (cluster.kind === "simulator" ? `dev-sim-${cluster.nowMs.toString(36)}` : "dev");
}

/** What dev has started so far; whatever is set is stopped however dev ends. */
interface DevParts {
  database?: EmbeddedDatabase;
  cluster?: DevCluster;
  relay?: LoggedProcess;
}

/** One dev run: its environment (completed as parts start), where it keeps files, and what it started. */
interface DevRun {
  env: Record<string, string>;
  dataDir: string;
  choice: DevClusterChoice;
  /** Aborted by Ctrl-C or SIGTERM, and once the pipeline stops. */
  controller: AbortController;
  parts: DevParts;
}

/** The handler serving in this process, with what stopping it needs. */
interface DevHandler {
  baseUrl: string;
  config: PreparedHandler["config"];
  store: PreparedHandler["store"];
  serving: ServingApp;
  /** Aborting starts the handler's graceful shutdown. */
  stop: AbortController;
  log: Deno.FsFile;
}

async function dev(): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const env = Deno.env.toObject();
  const dataDir = toDevDataDir(env);
  let choice: DevClusterChoice;
  try {
    choice = await readDevClusterChoice(env);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const parts: DevParts = {};
  try {
    return await runDevPipeline({ env, dataDir, choice, controller, parts });
  } catch (error) {
    // prepareHandler logged configuration and database problems to .data/handler.log; the cause is shown here.
    console.error(`dev pipeline failed: ${(error as Error).message} (see ${dataDir}handler.log)`);
    return 1;
  } finally {
    await stopDevParts(parts);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/** Starts database, cluster, handler and relay, prints the banner, then runs until stopped; the exit code. */
async function runDevPipeline(run: DevRun): Promise<number> {
  const { env, dataDir, choice, parts } = run;
  parts.database = await startDevDatabase(env, dataDir);
  parts.cluster = await startDevCluster(choice, { env, dataDir });
  // Shown before the relay starts: with DEV_CLUSTER=kubeconfig this is the cluster it is about to write a Lease to.
  console.log(parts.cluster.describe);
  const clusterName = toDevClusterName(env, { kind: choice.kind, nowMs: Date.now() });
  const token = await readOrCreateToken(`${dataDir}dev_token`);
  const devHash = `${clusterName}=${await toTokenHashHex(token)}`;
  env.CLUSTER_TOKEN_HASHES = env.CLUSTER_TOKEN_HASHES ? `${env.CLUSTER_TOKEN_HASHES},${devHash}` : devHash;
  const handler = await startDevHandler(run);
  const healthPort = await findFreePort();
  parts.relay = await startDevRelay(run, {
    CLUSTER_NAME: clusterName,
    HANDLER_URL: handler.baseUrl,
    HANDLER_TOKEN: token,
    KUBECONFIG: parts.cluster.kubeconfigPath,
    HEALTH_PORT: String(healthPort),
  });
  console.log(toDevBanner(run, { cluster: parts.cluster, clusterName, handler, token, healthPort }));
  return await followDevPipeline(run, { handler, relay: parts.relay });
}

/** Starts the embedded PostgreSQL and points DATABASE_URL at it, unless a database is configured. */
async function startDevDatabase(env: Record<string, string>, dataDir: string): Promise<EmbeddedDatabase | undefined> {
  if (isDatabaseConfigured(env)) return undefined;
  console.log(`starting embedded PostgreSQL (data in ${dataDir}postgres)`);
  const database = await startEmbeddedDatabase({ dataDir: `${dataDir}postgres`, isPersistent: true });
  env.DATABASE_URL = database.url;
  return database;
}

/** Prepares the handler from `run.env` with its log in `handler.log`, and serves it on its port, logging nothing. */
async function startDevHandler(run: DevRun): Promise<DevHandler> {
  const log = await Deno.open(`${run.dataDir}handler.log`, { create: true, append: true });
  const encoder = new TextEncoder();
  const { app, config, store } = await prepareHandler(run.env, {
    signal: run.controller.signal,
    write: (line) => log.writeSync(encoder.encode(line + "\n")),
  });
  const stop = new AbortController();
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
    signal: stop.signal,
  });
  return { baseUrl: `http://localhost:${serving.port}`, config, store, serving, stop, log };
}

/** Starts the relay process with `run.env` plus `relayEnv`, flushing often and stopping fast. */
function startDevRelay(run: DevRun, relayEnv: Record<string, string>): Promise<LoggedProcess> {
  const { env } = run;
  return startLoggedProcess({
    args: ["run", "-A", RELAY_MAIN],
    logPath: `${run.dataDir}relay.log`,
    env: {
      ...env,
      ...relayEnv,
      FLUSH_INTERVAL_MS: env.FLUSH_INTERVAL_MS ?? "200",
      // Ctrl-C reaches the embedded database at the same moment, so a long flush deadline would only delay the exit.
      SHUTDOWN_DEADLINE_S: env.SHUTDOWN_DEADLINE_S ?? "3",
    },
  });
}

/** The banner: where everything listens, how to query the rows and how to send an event by hand. */
function toDevBanner(
  run: DevRun,
  started: { cluster: DevCluster; clusterName: string; handler: DevHandler; token: string; healthPort: number },
): string {
  const { dataDir, parts } = run;
  const { clusterName, token, healthPort } = started;
  const { baseUrl, config } = started.handler;
  const record = toSampleEventRecord({ cluster: clusterName, now: new Date() });
  return [
    "",
    `events-ingester dev pipeline, cluster "${clusterName}"`,
    started.cluster.describe,
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
    "Ctrl-C stops everything" + (parts.database ? ", the embedded database included" : ""),
    "",
  ].join("\n");
}

/** Shows the status line until Ctrl-C or the relay exits, then stops the relay and the handler; the exit code. */
async function followDevPipeline(run: DevRun, running: { handler: DevHandler; relay: LoggedProcess }): Promise<number> {
  const { controller, dataDir } = run;
  const { handler, relay } = running;
  const status = showStatus(`${handler.baseUrl}/metrics`, controller.signal);
  const stopped = await Promise.race([
    relay.child.status.then((s) => `relay exited with code ${s.code} (see ${dataDir}relay.log)`),
    new Promise<string>((resolve) => controller.signal.addEventListener("abort", () => resolve(""), { once: true })),
  ]);
  controller.abort();
  if (stopped !== "") console.error(stopped);
  console.log("stopping: relay");
  // The relay got SIGINT from the terminal too; signalling again is harmless and covers SIGTERM sent to dev only.
  await relay.stop();
  await status;
  console.log("stopping: handler");
  handler.stop.abort();
  await handler.serving.finished;
  await handler.store.close();
  handler.log.close();
  return stopped === "" ? 0 : 1;
}

/** Stops the relay (again, harmlessly), the simulator and the embedded database, whichever were started. */
async function stopDevParts(parts: DevParts): Promise<void> {
  await parts.relay?.stop();
  if (parts.cluster?.simulator) console.log("stopping: simulator");
  await parts.cluster?.simulator?.stop();
  if (parts.database) console.log("stopping: embedded PostgreSQL");
  await parts.database?.stop();
}

if (import.meta.main) Deno.exit(await dev());
