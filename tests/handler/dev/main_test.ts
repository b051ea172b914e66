import assert from "node:assert/strict";
import { sumPrometheusSeries } from "../../../handler/dev/status.ts";
import { startSimulator } from "../../../relay/simulator/simulator.ts";

const DEV = new URL("../../../handler/dev/main.ts", import.meta.url).pathname;
const REPO_DATA_DIR = new URL("../../../.data/", import.meta.url).pathname;

async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  seen: string[],
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const match = seen.join("").match(pattern);
    if (match) return match;
    const { value, done } = await reader.read();
    if (done) break;
    seen.push(value);
  }
  throw new Error(`Cannot find ${pattern} in the output:\n${seen.join("")}`);
}

/** Names and modification times below the repository's own `.data/`, or null when it does not exist. */
async function snapshotRepoDataDir(): Promise<string[] | null> {
  try {
    const entries: string[] = [];
    for await (const entry of Deno.readDir(REPO_DATA_DIR)) {
      const info = await Deno.lstat(`${REPO_DATA_DIR}${entry.name}`);
      entries.push(`${entry.name} ${info.mtime?.getTime()}`);
    }
    return entries.sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function makeDataDir(): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "events-ingester-dev-" });
  // The embedded PostgreSQL runs as its own user, which must be able to reach its folder inside.
  await Deno.chmod(dataDir, 0o755);
  return dataDir;
}

function spawnDev(env: Record<string, string>): Deno.ChildProcess {
  const childEnv: Record<string, string> = { ...Deno.env.toObject(), PORT: "0", ...env };
  delete childEnv.DATABASE_URL;
  delete childEnv.DB_HOST;
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEV],
    env: childEnv,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function waitForRows(baseUrl: string): Promise<number> {
  let rows = 0;
  for (let attempt = 0; attempt < 60 && rows === 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    rows = sumPrometheusSeries(text, "events_ingester_db_insert_rows_total");
  }
  return rows;
}

async function finish(child: Deno.ChildProcess, reader: ReadableStreamDefaultReader<string>): Promise<void> {
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  try {
    child.kill("SIGKILL");
  } catch (error) {
    // Already exited, which is the expected case.
    if (!(error instanceof TypeError)) throw error;
  }
  await child.status;
}

Deno.test("deno task dev watches the simulator by default, even when the kubeconfig's cluster answers", async () => {
  const before = await snapshotRepoDataDir();
  const dataDir = await makeDataDir();
  const answering = await startSimulator();
  await Deno.writeTextFile(`${dataDir}/kubeconfig`, answering.kubeconfig());
  const child = spawnDev({ DEV_DATA_DIR: dataDir, KUBECONFIG: `${dataDir}/kubeconfig` });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: string[] = [];
  try {
    const [, baseUrl] = await readUntil(reader, /handler: +(http:\/\/localhost:\d+)/, seen);
    const [, simulatorUrl] = seen.join("").match(/simulated cluster: +(http:\/\/127\.0\.0\.1:\d+)/) ?? [];
    assert.ok(simulatorUrl !== undefined, `the banner names the simulated cluster:\n${seen.join("")}`);
    assert.notEqual(simulatorUrl, answering.url);
    assert.ok((await waitForRows(baseUrl!)) > 0, "the relay's events reached the database");
    assert.deepEqual(answering.requestLog, [], "the kubeconfig's cluster was never asked anything");
    for (const log of ["relay.log", "handler.log", "simulator.log"]) {
      assert.ok((await Deno.stat(`${dataDir}/${log}`)).size > 0, `${log} has lines while dev runs`);
    }
    assert.ok((await Deno.stat(`${dataDir}/postgres`)).isDirectory, "the database lives in DEV_DATA_DIR");
    child.kill("SIGINT");
    await readUntil(reader, /stopping: embedded PostgreSQL/, seen);
    const output = seen.join("");
    const order = ["stopping: relay", "stopping: handler", "stopping: simulator", "stopping: embedded PostgreSQL"]
      .map((l) => output.indexOf(l));
    assert.deepEqual([...order].sort((a, b) => a - b), order, `shutdown order in:\n${output}`);
    assert.ok(order.every((i) => i >= 0), `every part stopped:\n${output}`);
    assert.equal((await child.status).code, 0);
    assert.deepEqual(await snapshotRepoDataDir(), before, "the working copy's .data/ is untouched");
  } finally {
    await finish(child, reader);
    await answering.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deno task dev with DEV_CLUSTER=kubeconfig names the context before the relay starts, then watches it", async () => {
  const dataDir = await makeDataDir();
  const cluster = await startSimulator();
  await Deno.writeTextFile(`${dataDir}/kubeconfig`, cluster.kubeconfig());
  cluster.createEvent({
    metadata: { namespace: "default" },
    involvedObject: { apiVersion: "v1", kind: "Pod", name: "web-0", namespace: "default" },
    reason: "Started",
    message: "Started container web",
    type: "Normal",
  });
  const child = spawnDev({ DEV_DATA_DIR: dataDir, DEV_CLUSTER: "kubeconfig", KUBECONFIG: `${dataDir}/kubeconfig` });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: string[] = [];
  try {
    const [, baseUrl] = await readUntil(reader, /handler: +(http:\/\/localhost:\d+)/, seen);
    const output = seen.join("");
    const named = output.indexOf(`cluster:            ${cluster.url}  (context "simulator" of ${dataDir}/kubeconfig`);
    assert.ok(named >= 0, `the banner names the context:\n${output}`);
    assert.ok(named < output.indexOf("events-ingester dev pipeline"), "the context is named before the relay starts");
    assert.ok((await waitForRows(baseUrl!)) > 0, "the chosen cluster's event reached the database");
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0);
  } finally {
    await finish(child, reader);
    await cluster.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deno task dev exits 2 for an unknown DEV_CLUSTER before starting anything", async () => {
  const dataDir = `${await makeDataDir()}/never-created`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEV],
    env: { DEV_DATA_DIR: dataDir, DEV_CLUSTER: "production" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.equal(
    new TextDecoder().decode(output.stderr),
    'Cannot choose the dev cluster: DEV_CLUSTER is "production", not simulator or kubeconfig\n',
  );
  await assert.rejects(Deno.stat(dataDir), Deno.errors.NotFound);
  await Deno.remove(dataDir.replace(/\/never-created$/, ""), { recursive: true });
});
