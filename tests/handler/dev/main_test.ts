import assert from "node:assert/strict";
import { sumPrometheusSeries } from "../../../handler/dev/status.ts";

const DEV = new URL("../../../handler/dev/main.ts", import.meta.url).pathname;

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

Deno.test("deno task dev runs the pipeline on embedded defaults and stops it in order on SIGINT", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "events-ingester-dev-" });
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    DEV_DATA_DIR: dataDir,
    PORT: "0",
    KUBECONFIG: `${dataDir}/no-kubeconfig`,
  };
  delete env.DATABASE_URL;
  delete env.DB_HOST;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEV],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: string[] = [];
  try {
    const [, baseUrl] = await readUntil(reader, /handler: +(http:\/\/localhost:\d+)/, seen);
    assert.match(seen.join(""), /simulated cluster: +http:\/\/127\.0\.0\.1:\d+/);
    let rows = 0;
    for (let attempt = 0; attempt < 60 && rows === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      rows = sumPrometheusSeries(text, "events_ingester_db_insert_rows_total");
    }
    assert.ok(rows > 0, "the relay's events reached the database");
    child.kill("SIGINT");
    await readUntil(reader, /stopping: embedded PostgreSQL/, seen);
    const output = seen.join("");
    const order = ["stopping: relay", "stopping: handler", "stopping: embedded PostgreSQL"].map((l) =>
      output.indexOf(l)
    );
    assert.deepEqual([...order].sort((a, b) => a - b), order, `shutdown order in:\n${output}`);
    assert.equal((await child.status).code, 0);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited, which is the expected case.
    }
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
  }
});
