import assert from "node:assert/strict";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import { withTestSchema } from "../support/database.ts";
import { eventRecord, ndjson, testEnv, TOKEN } from "./http/app_harness.ts";
import { gzip } from "../support/gzip.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../support/subprocess.ts";

Deno.test("handler/serve.ts runs under `deno serve --parallel`: migrates once, serves, stores, stops on SIGTERM", async () => {
  await withTestSchema(async (schema, sql) => {
    const port = await findFreePort();
    const child = spawnDeno(
      ["serve", "-A", "--parallel", "--host", "127.0.0.1", "--port", String(port), "handler/serve.ts"],
      { ...await testEnv(schema), DENO_JOBS: "2" },
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(child, `${baseUrl}/readyz`);
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${baseUrl}/v1/events`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
        },
        body: await gzip(ndjson([eventRecord(), eventRecord()])),
      });
      answers.push([response.status, await response.json()]);
    }
    const output = await stopChild(child);
    assert.deepEqual(answers, Array(4).fill([200, { accepted: 2, duplicates: 0, rejected: [] }]), output.stderr);
    // SIGTERM ends the process: each worker drains and closes its pool.
    assert.equal(output.code, 0, output.stderr);
    const stopped = output.stdout.split("\n").filter((line) => line.includes('"msg":"stopped"'));
    assert.equal(stopped.length, 2, output.stdout);
    const [rows] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
    assert.equal(rows?.n, 8);
    const migrations = await sql.unsafe(`select version from "${schema}".ingester_schema_migrations order by version`);
    assert.deepEqual(migrations.map((m) => m.version), [1, 2]);
  });
});
