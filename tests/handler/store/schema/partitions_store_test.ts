/**
 * Daily partitions through the store and the app, on a real PostgreSQL: the first and last storable days, where the
 * duplicate guarantee holds, and partitions made ahead of need.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { testDatabaseUrl } from "../../../support/database.ts";
import { createLogger } from "../../../../shared/telemetry/log.ts";
import { ensurePartitionsAhead, startPartitionsAhead } from "../../../../handler/store/schema/partitions_ahead.ts";
import { makeRow, type SchemaPath, uniqueCluster, withStore } from "../store_support.ts";
import { krateoPartitionDdl } from "../../../support/krateo_fixture.ts";
import { eventRecord, ndjson, post, withApp } from "../../http/app_harness.ts";

const PATHS: SchemaPath[] = ["created by the store", "existing Krateo schema"];

/** Resolves once a session holds (or, with isGranted false, waits for) `mode` on the schema's k8s_events. */
async function waitForLock(
  sql: postgres.Sql,
  schema: string,
  mode: string,
  options: { isGranted: boolean },
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await sql.unsafe(
      `select count(*)::int as n from pg_locks where relation = to_regclass($1) and mode = $2 and granted = $3`,
      [`"${schema}".k8s_events`, mode, options.isGranted],
    );
    if (Number(rows[0]?.n) > 0) return;
    if (Date.now() > deadline) throw new Error(`Cannot see ${mode} (granted ${options.isGranted}) within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function batchOf(cluster: string, rows: ReturnType<typeof makeRow>[]) {
  return { cluster, rows, gaps: [], resumeVersion: null, fence: null };
}

for (const path of PATHS) {
  Deno.test(`PostgresStore.writeBatch stores events of the first and the last storable day (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const rows = [
        makeRow(cluster, 1, { createdAt: new Date("9999-12-31T23:59:59.999Z") }),
        makeRow(cluster, 2, { createdAt: new Date("0001-01-01T00:00:00.000Z") }),
        makeRow(cluster, 3, { createdAt: new Date("9999-12-31T00:00:00.000Z") }),
      ];
      assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), { inserted: 3, duplicates: 0, gapsInserted: 0 });
      assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), { inserted: 0, duplicates: 3, gapsInserted: 0 });
      const placed = await sql.unsafe(
        `select c.relname as partition, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') as at,
                pg_get_expr(c.relpartbound, c.oid) as bound
           from "${schema}".k8s_events e join pg_class c on c.oid = e.tableoid order by e.created_at`,
      );
      assert.deepEqual(placed.map((p) => [p.partition, p.at, p.bound]), [
        [
          "k8s_events_0001_01_01",
          "0001-01-01 00:00:00.000",
          "FOR VALUES FROM ('0001-01-01 00:00:00+00') TO ('0001-01-02 00:00:00+00')",
        ],
        [
          "k8s_events_9999_12_31",
          "9999-12-31 00:00:00.000",
          "FOR VALUES FROM ('9999-12-31 00:00:00+00') TO (MAXVALUE)",
        ],
        [
          "k8s_events_9999_12_31",
          "9999-12-31 23:59:59.999",
          "FOR VALUES FROM ('9999-12-31 00:00:00+00') TO (MAXVALUE)",
        ],
      ]);
    });
  });

  Deno.test(`PostgresStore.writeBatch deduplicates a version within its day only: the same version on another day is a second row (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const first = makeRow(cluster, 1, { createdAt: new Date("2026-11-20T23:59:59.000Z") });
      const sameDay = { ...first, createdAt: "2026-11-20T00:00:00.000000Z", message: "same day, moved" };
      const nextDay = { ...first, createdAt: "2026-11-21T00:00:00.000000Z", message: "next day" };
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [first])), {
        inserted: 1,
        duplicates: 0,
        gapsInserted: 0,
      });
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [sameDay])), {
        inserted: 0,
        duplicates: 1,
        gapsInserted: 0,
      });
      // Kubernetes never changes the timestamps of a stored version, so only a forged or rewritten one does this.
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [nextDay])), {
        inserted: 1,
        duplicates: 0,
        gapsInserted: 0,
      });
      const rows = await sql.unsafe(
        `select c.relname as partition, e.message from "${schema}".k8s_events e join pg_class c on c.oid = e.tableoid
          where e.global_uid = $1 and e.resource_version = $2 order by 1`,
        [first.globalUid, first.resourceVersion],
      );
      assert.deepEqual(rows.map((r) => [r.partition, r.message]), [
        ["k8s_events_2026_11_20", first.message],
        ["k8s_events_2026_11_21", "next day"],
      ]);
    });
  });

  Deno.test(`ensurePartitionsAhead makes today's and the next day's partitions; a second run changes nothing (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const now = new Date("2031-12-31T23:30:00Z");
      assert.deepEqual(await ensurePartitionsAhead({ store, partitionsAheadDays: 2, now }), [
        "2031-12-31",
        "2032-01-01",
      ]);
      assert.deepEqual(await ensurePartitionsAhead({ store, partitionsAheadDays: 2, now }), [
        "2031-12-31",
        "2032-01-01",
      ]);
      const rows = await sql.unsafe(
        `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = to_regclass($1) and c.relname like 'k8s_events_203%' order by 1`,
        [`"${schema}".k8s_events`],
      );
      assert.deepEqual(rows.map((r) => r.relname), ["k8s_events_2031_12_31", "k8s_events_2032_01_01"]);
    });
  });
}

Deno.test("PostgresStore.ensurePartitions uses the day the Krateo job created while the handler was creating it", async () => {
  await withStore("existing Krateo schema", async (store, sql, schema) => {
    const job = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
    try {
      const release = Promise.withResolvers<void>();
      // The job's transaction holds its new partition (and its lock on k8s_events) until released.
      const jobDone = job.begin(async (tx) => {
        await tx.unsafe(`set local search_path to "${schema}"`);
        await tx.unsafe(await krateoPartitionDdl("2026-12-10")).simple();
        await release.promise;
      });
      await waitForLock(sql, schema, "AccessExclusiveLock", { isGranted: true });
      const ensured = store.ensurePartitions(["2026-12-10"]);
      await waitForLock(sql, schema, "AccessShareLock", { isGranted: false });
      release.resolve();
      await jobDone;
      await ensured;
      const indexes = await sql.unsafe(
        `select indexname from pg_indexes where schemaname = $1 and tablename = 'k8s_events_2026_12_10' order by 1`,
        [schema],
      );
      assert.equal(indexes.length, 7);
      assert.ok(indexes.every((index) => String(index.indexname).includes("k8s_events_2026_12_10")));
      const cluster = uniqueCluster();
      const row = makeRow(cluster, 1, { createdAt: new Date("2026-12-10T10:00:00Z") });
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [row, row])), {
        inserted: 1,
        duplicates: 1,
        gapsInserted: 0,
      });
    } finally {
      await job.end({ timeout: 1 });
    }
  });
});

Deno.test("startPartitionsAhead runs at once with the injected clock, logs a failed run, and stops on abort", async () => {
  const calls: string[][] = [];
  const failed = Promise.withResolvers<string>();
  const controller = new AbortController();
  startPartitionsAhead({
    store: {
      ensurePartitions(days) {
        calls.push([...days]);
        return Promise.reject(new Error("database away"));
      },
    },
    partitionsAheadDays: 3,
    logger: createLogger({ isDebug: false, write: (line) => failed.resolve(line) }),
    signal: controller.signal,
    now: () => new Date("2026-12-03T10:00:00Z"),
  });
  const line = JSON.parse(await failed.promise);
  controller.abort();
  assert.deepEqual(calls, [["2026-12-03", "2026-12-04", "2026-12-05"]]);
  assert.deepEqual([line.level, line.msg, line.error], [
    "warn",
    "partitions ahead of need not made; retrying at the next interval",
    "Error: database away",
  ]);
});

Deno.test("startPartitionsAhead does nothing when PARTITIONS_AHEAD_DAYS is 0", () => {
  const calls: string[][] = [];
  startPartitionsAhead({
    store: {
      ensurePartitions(days) {
        calls.push([...days]);
        return Promise.resolve();
      },
    },
    partitionsAheadDays: 0,
    logger: createLogger({ isDebug: false, write: () => {} }),
    signal: new AbortController().signal,
  });
  assert.deepEqual(calls, []);
});

Deno.test("POST /v1/events stores an event of 9999-12-31T23:59:59.999999Z and one of 0001-01-01, and their retries", async () => {
  await withApp(async (h) => {
    const last = eventRecord();
    Object.assign(last.event, { lastTimestamp: "9999-12-31T23:59:59.999999Z" });
    const first = eventRecord();
    Object.assign(first.event, { firstTimestamp: undefined, lastTimestamp: "0001-01-01T00:00:00Z" });
    for (const expected of [{ accepted: 2, duplicates: 0 }, { accepted: 0, duplicates: 2 }]) {
      const result = await post(h.app, ndjson([last, first]));
      assert.deepEqual([result.status, result.body], [200, { ...expected, rejected: [] }]);
    }
    const placed = await h.sql.unsafe(
      `select c.relname as partition, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD') as day
         from "${h.schema}".k8s_events e join pg_class c on c.oid = e.tableoid order by e.created_at`,
    );
    assert.deepEqual(placed.map((p) => [p.partition, p.day]), [
      ["k8s_events_0001_01_01", "0001-01-01"],
      ["k8s_events_9999_12_31", "9999-12-31"],
    ]);
  });
});
