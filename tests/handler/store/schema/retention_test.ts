import assert from "node:assert/strict";
import type postgres from "postgres";
import { resolveRetentionDays, startRetention } from "../../../../handler/store/schema/retention.ts";
import { type PreparedHandler, prepareHandler } from "../../../../handler/start.ts";
import { toDaysAhead } from "../../../../handler/store/schema/partitions.ts";
import { createLogger } from "../../../../shared/telemetry/log.ts";
import { testDatabaseUrl, withTestSchema } from "../../../support/database.ts";
import { applyKrateoSchema } from "../store_support.ts";

function recordingStore(fail = false) {
  const calls: string[] = [];
  const { promise: called, resolve } = Promise.withResolvers<void>();
  return {
    calls,
    called,
    dropExpiredPartitions(now: Date): Promise<string[]> {
      calls.push(now.toISOString());
      resolve();
      return fail ? Promise.reject(new Error("database away")) : Promise.resolve([]);
    },
  };
}

Deno.test("startRetention runs at once with the injected clock, then stops on abort", async () => {
  const store = recordingStore();
  const controller = new AbortController();
  startRetention({
    store,
    retentionDays: 7,
    logger: createLogger({ isDebug: false, write: () => {} }),
    signal: controller.signal,
    now: () => new Date("2026-11-25T10:00:00Z"),
  });
  await store.called;
  controller.abort();
  assert.deepEqual(store.calls, ["2026-11-25T10:00:00.000Z"]);
});

Deno.test("startRetention does nothing when RETENTION_DAYS is 0", () => {
  const store = recordingStore();
  startRetention({
    store,
    retentionDays: 0,
    logger: createLogger({ isDebug: false, write: () => {} }),
    signal: new AbortController().signal,
  });
  assert.deepEqual(store.calls, []);
});

Deno.test("startRetention logs a failed run as a warning and keeps the schedule", async () => {
  const store = recordingStore(true);
  const controller = new AbortController();
  const logged = Promise.withResolvers<string>();
  startRetention({
    store,
    retentionDays: 1,
    logger: createLogger({ isDebug: false, write: (line) => logged.resolve(line) }),
    signal: controller.signal,
  });
  const line = JSON.parse(await logged.promise);
  controller.abort();
  assert.deepEqual([line.level, line.msg, line.error], [
    "warn",
    "retention run failed; retrying at the next interval",
    "Error: database away",
  ]);
});

Deno.test("resolveRetentionDays keeps RETENTION_DAYS when set, else 30 on a created table and 0 on an adopted one", () => {
  assert.deepEqual(resolveRetentionDays({ retentionDays: 7, eventsTableOrigin: "adopted" }), {
    retentionDays: 7,
    source: "RETENTION_DAYS",
  });
  assert.deepEqual(resolveRetentionDays({ retentionDays: 0, eventsTableOrigin: "created" }), {
    retentionDays: 0,
    source: "RETENTION_DAYS",
  });
  assert.deepEqual(resolveRetentionDays({ retentionDays: null, eventsTableOrigin: "created" }), {
    retentionDays: 30,
    source: "default for a k8s_events the handler created",
  });
  assert.deepEqual(resolveRetentionDays({ retentionDays: null, eventsTableOrigin: "adopted" }), {
    retentionDays: 0,
    source: "default for a k8s_events another owner created: its partitions are not dropped; set RETENTION_DAYS",
  });
});

/** Prepares a handler on `schema` with `env` added, runs `fn`, then closes its store and telemetry. */
async function withPreparedHandler(
  schema: string,
  env: Record<string, string>,
  fn: (prepared: PreparedHandler, logs: Record<string, unknown>[]) => Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  const prepared = await prepareHandler({
    DATABASE_URL: testDatabaseUrl(),
    DB_SCHEMA: schema,
    CLUSTER_TOKEN_HASHES: `cluster-a=${"a".repeat(64)}`,
    ...env,
  }, { write: (line) => lines.push(line) });
  try {
    await fn(prepared, lines.map((line) => JSON.parse(line)));
  } finally {
    await prepared.store.close();
    await prepared.telemetry.shutdown();
  }
}

async function hasTable(sql: postgres.Sql, schema: string, name: string): Promise<boolean> {
  const rows = await sql.unsafe(`select to_regclass($1) is not null as exists`, [`"${schema}".${name}`]);
  return rows[0]?.exists === true;
}

Deno.test("prepareHandler turns retention off on an adopted Krateo table when RETENTION_DAYS is unset, and says so in one line", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await withPreparedHandler(schema, {}, async (prepared, logs) => {
      const lines = logs.filter((line) => line.msg === "retention");
      assert.deepEqual(
        lines.map(({ level, retentionDays, source, eventsTableOrigin }) => ({
          level,
          retentionDays,
          source,
          eventsTableOrigin,
        })),
        [{
          level: "info",
          retentionDays: 0,
          source: "default for a k8s_events another owner created: its partitions are not dropped; set RETENTION_DAYS",
          eventsTableOrigin: "adopted",
        }],
      );
      assert.equal(prepared.retentionDays, 0);
      assert.deepEqual(await prepared.store.dropExpiredPartitions(new Date("2026-12-03T10:00:00Z")), []);
      assert.equal(await hasTable(sql, schema, "k8s_events_2021_05_05"), true);
    });
  });
});

Deno.test("prepareHandler applies RETENTION_DAYS set explicitly to an adopted table", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await withPreparedHandler(schema, { RETENTION_DAYS: "7" }, async (prepared, logs) => {
      const line = logs.find((l) => l.msg === "retention");
      assert.deepEqual([line?.retentionDays, line?.source, line?.eventsTableOrigin], [7, "RETENTION_DAYS", "adopted"]);
      assert.deepEqual(await prepared.store.dropExpiredPartitions(new Date("2026-12-03T10:00:00Z")), [
        "k8s_events_2021_05_05",
      ]);
      assert.equal(await hasTable(sql, schema, "k8s_events_2021_05_05"), false);
    });
  });
});

Deno.test("prepareHandler keeps 30 days by default on a table it created, and makes today's and tomorrow's partitions", async () => {
  await withTestSchema(async (schema, sql) => {
    const daysBefore = toDaysAhead(new Date(), 2);
    await withPreparedHandler(schema, {}, async (prepared, logs) => {
      const line = logs.find((l) => l.msg === "retention");
      assert.deepEqual([line?.retentionDays, line?.source, line?.eventsTableOrigin], [
        30,
        "default for a k8s_events the handler created",
        "created",
      ]);
      assert.equal(prepared.retentionDays, 30);
      const made = logs.filter((l) => l.msg === "created partition").map((l) => String(l.day));
      // The start read the clock between these two readings, which differ only across midnight UTC.
      assert.ok([daysBefore.join(), toDaysAhead(new Date(), 2).join()].includes(made.join()), made.join());
      for (const day of made) assert.equal(await hasTable(sql, schema, `k8s_events_${day.replaceAll("-", "_")}`), true);
    });
  });
});
