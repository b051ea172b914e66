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
import { serveApp } from "../http/server.ts";
import { prepareHandler } from "../start.ts";
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
  let database: EmbeddedDatabase | undefined;
  let cluster: DevCluster | undefined;
  let relay: LoggedProcess | undefined;
  try {
    if (!isDatabaseConfigured(env)) {
      console.log(`starting embedded PostgreSQL (data in ${dataDir}postgres)`);
      database = await startEmbeddedDatabase({ dataDir: `${dataDir}postgres`, isPersistent: true });
      env.DATABASE_URL = database.url;
    }
    cluster = await startDevCluster(choice, { env, dataDir });
    // Shown before the relay starts: with DEV_CLUSTER=kubeconfig this is the cluster it is about to write a Lease to.
    console.log(cluster.describe);
    // Each simulated cluster is new, with resourceVersions starting over: a name of its own keeps the previous
    // run's resume point (a version this cluster has not reached) from being used.
    const clusterName = env.CLUSTER_NAME ||
      (choice.kind === "simulator" ? `dev-sim-${Date.now().toString(36)}` : "dev");
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
    relay = await startLoggedProcess({
      args: ["run", "-A", RELAY_MAIN],
      logPath: `${dataDir}relay.log`,
      env: {
        ...env,
        CLUSTER_NAME: clusterName,
        HANDLER_URL: baseUrl,
        HANDLER_TOKEN: token,
        KUBECONFIG: cluster.kubeconfigPath,
        HEALTH_PORT: String(healthPort),
        FLUSH_INTERVAL_MS: env.FLUSH_INTERVAL_MS ?? "200",
        // Ctrl-C reaches the embedded database at the same moment, so a long flush deadline would only delay the exit.
        SHUTDOWN_DEADLINE_S: env.SHUTDOWN_DEADLINE_S ?? "3",
      },
    });

    const record = toSampleEventRecord({ cluster: clusterName, now: new Date() });
    console.log([
      "",
      `events-ingester dev pipeline, cluster "${clusterName}"`,
      cluster.describe,
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
    const relayExit = relay.child.status;
    const stopped = await Promise.race([
      relayExit.then((s) => `relay exited with code ${s.code} (see ${dataDir}relay.log)`),
      new Promise<string>((resolve) => controller.signal.addEventListener("abort", () => resolve(""), { once: true })),
    ]);
    controller.abort();
    if (stopped !== "") console.error(stopped);
    console.log("stopping: relay");
    // The relay got SIGINT from the terminal too; signalling again is harmless and covers SIGTERM sent to dev only.
    await relay.stop();
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
    await relay?.stop();
    if (cluster?.simulator) console.log("stopping: simulator");
    await cluster?.simulator?.stop();
    if (database) console.log("stopping: embedded PostgreSQL");
    await database?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) Deno.exit(await dev());
