/**
 * The CloudNativePG example's claims, with a real PgBouncer in transaction mode in front of the test database: the
 * handler (handler/main.ts, a real process) stores batches through it while concurrent requests share fewer server
 * connections than they use, duplicates included; and LISTEN through it misses the notifications a connection to
 * the database itself receives, which is why readers go to the read-write Service.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import * as yaml from "js-yaml";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import { eventRecord, ndjson, testEnv, TOKEN } from "../handler/http/app_harness.ts";
import { testDatabaseUrl, withTestSchema } from "../support/database.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../support/subprocess.ts";
import { PGBOUNCER, PGBOUNCER_VERSION, type PgbouncerSettings, startPgbouncer } from "./pgbouncer.ts";
import { REPO_ROOT } from "./render.ts";

const ignore = PGBOUNCER === null;

/** The example Pooler's PgBouncer settings, with fewer server connections than concurrent requests. */
function toExampleSettings(): PgbouncerSettings {
  const pooler = yaml.load(Deno.readTextFileSync(`${REPO_ROOT}deploy/examples/cloudnativepg/pooler.yaml`)) as {
    spec: { pgbouncer: { poolMode: string; parameters: Record<string, string> } };
  };
  const { poolMode, parameters } = pooler.spec.pgbouncer;
  const settings: PgbouncerSettings = { pool_mode: poolMode, max_client_conn: parameters.max_client_conn! };
  // Two server connections for six requests at once: transactions of different clients share them.
  settings.default_pool_size = "2";
  const [major, minor] = PGBOUNCER_VERSION ?? [0, 0];
  if (major! > 1 || minor! >= 21) settings.max_prepared_statements = parameters.max_prepared_statements!;
  return settings;
}

const CONCURRENT_REQUESTS = 6;
const ROUNDS = 6;
const RECORDS_PER_REQUEST = 50;

Deno.test({
  name: "the handler stores every batch through PgBouncer in the example's transaction mode, duplicates included",
  ignore,
  fn: async () => {
    const settings = toExampleSettings();
    assert.equal(settings.pool_mode, "transaction");
    const pgbouncer = await startPgbouncer(testDatabaseUrl(), settings);
    try {
      await withTestSchema(async (schema, sql) => {
        const port = await findFreePort();
        const child = spawnDeno(["run", "-A", "handler/main.ts"], {
          ...await testEnv(schema),
          DATABASE_URL: pgbouncer.url,
          DB_POOL_MAX: String(CONCURRENT_REQUESTS),
          PORT: String(port),
        });
        await waitUntilAnswering(child, `http://127.0.0.1:${port}/readyz`);
        const answers = new Map<string, number>();
        for (let round = 0; round < ROUNDS; round++) {
          // Rounds 3-5 send again what rounds 0-2 sent: the staging path, through the pooler, finds them stored.
          const sent = Array.from({ length: CONCURRENT_REQUESTS }, async (_, request) => {
            const records = Array.from(
              { length: RECORDS_PER_REQUEST },
              (_, line) => eventRecord({ uid: `u-${round % 3}-${request}-${line}`, resourceVersion: "7" }),
            );
            const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
              method: "POST",
              headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
              body: ndjson(records),
            });
            return `${response.status} ${await response.text()}`;
          });
          for (const answer of await Promise.all(sent)) answers.set(answer, (answers.get(answer) ?? 0) + 1);
        }
        const output = await stopChild(child);
        assert.equal(output.code, 0, output.stderr);
        const half = (ROUNDS / 2) * CONCURRENT_REQUESTS;
        assert.deepEqual(Object.fromEntries(answers), {
          [`200 {"accepted":${RECORDS_PER_REQUEST},"duplicates":0,"rejected":[]}`]: half,
          [`200 {"accepted":0,"duplicates":${RECORDS_PER_REQUEST},"rejected":[]}`]: half,
        });
        const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
        assert.equal(row?.n, half * RECORDS_PER_REQUEST);
      });
    } finally {
      await pgbouncer.stop();
    }
  },
});

Deno.test({
  name: "LISTEN through PgBouncer in transaction mode misses the notifications a direct connection receives",
  ignore,
  fn: async () => {
    const pgbouncer = await startPgbouncer(testDatabaseUrl(), toExampleSettings());
    const direct = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
    const pooled = postgres(pgbouncer.url, { max: 1, onnotice: () => {} });
    const writer = postgres(pgbouncer.url, { max: 1, onnotice: () => {} });
    const channel = `pgbouncer_test_${crypto.randomUUID().slice(0, 8)}`;
    const received = { direct: [] as string[], pooled: [] as string[] };
    try {
      await direct.listen(channel, (payload) => received.direct.push(payload));
      await pooled.listen(channel, (payload) => received.pooled.push(payload));
      const sent = ["1", "2", "3", "4", "5"];
      for (const payload of sent) await writer.unsafe("select pg_notify($1, $2)", [channel, payload]);
      const deadline = Date.now() + 5_000;
      while (received.direct.length < sent.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // As long again for the pooled listener, which never gets them: its session went back to the pool.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(received, { direct: sent, pooled: [] });
    } finally {
      await Promise.all([direct.end(), pooled.end(), writer.end()]);
      await pgbouncer.stop();
    }
  },
});
