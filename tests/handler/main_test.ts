import assert from "node:assert/strict";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import { withTestSchema } from "../support/database.ts";
import { eventRecord, ndjson, testEnv, TOKEN } from "./http/app_harness.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../support/subprocess.ts";

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

Deno.test("handler/main.ts exits 2 and logs every configuration problem", async () => {
  const child = spawnDeno(["run", "-A", "handler/main.ts"], { DB_HOST: "", DATABASE_URL: "", PORT: "x", DEBUG: "?" });
  await child.status;
  const output = await stopChild(child);
  assert.equal(output.code, 2, output.stderr);
  const problems = logLines(output.stdout).filter((l) => l.msg === "invalid configuration").map((l) => l.problem);
  assert.deepEqual(problems, [
    "DATABASE_URL: is unset, and so are DB_HOST, DB_USER and DB_NAME: name the database",
    'PORT: "x" is not a whole number from 0 to 65535',
    "CLUSTER_TOKEN_HASHES, CLUSTER_TOKEN_HASHES_FILE: neither is set, so no cluster could send events",
    'DEBUG: "?" is not a boolean (true, false, 1, 0, yes, no, on, off)',
  ]);
});

Deno.test("handler/main.ts exits 1 when the database stays unreachable for DB_READY_TIMEOUT", async () => {
  const child = spawnDeno(["run", "-A", "handler/main.ts"], {
    ...await testEnv("public"),
    DATABASE_URL: `postgres://postgres@127.0.0.1:${await findFreePort()}/nowhere`,
    DB_READY_TIMEOUT: "1s",
    DB_CONNECT_TIMEOUT_S: "1",
  });
  await child.status;
  const output = await stopChild(child);
  assert.equal(output.code, 1, output.stderr);
  const failure = logLines(output.stdout).find((l) => l.msg === "cannot start: database not ready");
  assert.match(String(failure?.error), /^StoreUnavailableError: Cannot reach the database: no answer within 1 s/);
});

Deno.test("handler/main.ts migrates, serves on PORT and stops on SIGTERM, closing cleanly", async () => {
  await withTestSchema(async (schema, sql) => {
    const port = await findFreePort();
    const child = spawnDeno(["run", "-A", "handler/main.ts"], { ...await testEnv(schema), PORT: String(port) });
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(child, `${baseUrl}/readyz`);
    const response = await fetch(`${baseUrl}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
      body: ndjson([eventRecord()]),
    });
    assert.deepEqual([response.status, await response.json()], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
    const output = await stopChild(child);
    assert.equal(output.code, 0, output.stderr);
    const lines = logLines(output.stdout);
    const config = lines.find((l) => l.msg === "configuration");
    assert.equal(config?.dbSchema, schema);
    assert.equal(String(config?.tokenClusters), "cluster-a,cluster-b");
    assert.deepEqual(lines.at(-1)?.msg, "stopped");
    assert.equal(lines.at(-1)?.isDrained, true);
    const [rows] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
    assert.equal(rows?.n, 1);
  });
});

Deno.test("handler/main.ts exits 2 with one log line when --allow-env is narrowed to a list of names", async () => {
  const child = spawnDeno(["run", "--allow-env=PORT", "--allow-net", "--allow-read", "handler/main.ts"], {});
  await child.status;
  const output = await stopChild(child);
  assert.equal(output.code, 2, output.stderr);
  assert.equal(output.stderr, "");
  assert.deepEqual(logLines(output.stdout).map((l) => [l.level, l.msg, l.problem, l.error]), [[
    "error",
    "cannot start: permission denied",
    "Cannot read the environment: run with --allow-env (all variables, not a list of names)",
    "NotCapable: Requires env access, run again with the --allow-env flag",
  ]]);
});

Deno.test("handler/main.ts exits 2 and says so when --allow-net does not cover the database", async () => {
  const env = await testEnv("public");
  const url = new URL(env.DATABASE_URL!);
  const child = spawnDeno(["run", "--allow-env", "--allow-net=127.0.0.1:1", "handler/main.ts"], {
    ...env,
    DB_READY_TIMEOUT: "30s",
  });
  await child.status;
  const output = await stopChild(child);
  assert.equal(output.code, 2, output.stderr);
  const failure = logLines(output.stdout).find((l) => l.level === "error");
  assert.equal(failure?.msg, "cannot start: permission denied");
  assert.equal(
    failure?.error,
    `NotCapable: Cannot connect to the database at ${url.hostname}:${url.port || 5432}: the process may not open ` +
      "that connection; allow it with --allow-net",
  );
});

Deno.test("handler/main.ts exits 2 and says so when --allow-net does not cover its port", async () => {
  await withTestSchema(async (schema) => {
    const env = await testEnv(schema);
    const url = new URL(env.DATABASE_URL!);
    const port = await findFreePort();
    const child = spawnDeno([
      "run",
      "--allow-env",
      `--allow-net=${url.hostname}:${url.port || 5432}`,
      "handler/main.ts",
    ], {
      ...env,
      PORT: String(port),
    });
    await child.status;
    const output = await stopChild(child);
    assert.equal(output.code, 2, output.stderr);
    const failure = logLines(output.stdout).find((l) => l.level === "error");
    assert.deepEqual([failure?.msg, failure?.problem], [
      "cannot start: permission denied",
      `Cannot listen on port ${port}: run with --allow-net`,
    ]);
  });
});
