import assert from "node:assert/strict";
import postgres from "postgres";
import { withTestSchema } from "../../support/database.ts";
import { startEmbeddedDatabase } from "../../../handler/dev/embedded_database.ts";
import { createPostgresStore, type PostgresStore } from "../../../handler/store/postgres_store.ts";
import { StoreUnavailableError } from "../../../handler/store/store.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { makeRow, openStore, uniqueCluster } from "./store_support.ts";
import { gatedSource, recordUncaught, terminateBackend, waitForBackend } from "./restart_support.ts";

function rowsOf(cluster: string, from: number, count: number): EventRow[] {
  return Array.from({ length: count }, (_, i) => makeRow(cluster, from + i));
}

async function countRows(sql: postgres.Sql, schema: string, cluster: string): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from "${schema}".k8s_events where cluster_name = $1`,
    [cluster],
  );
  return row?.n ?? -1;
}

async function storedCheckpoint(sql: postgres.Sql, schema: string, cluster: string): Promise<string | null> {
  const rows = await sql.unsafe<{ resume_version: string }[]>(
    `select resume_version from "${schema}".ingester_checkpoints where cluster = $1`,
    [cluster],
  );
  return rows[0]?.resume_version ?? null;
}

/** Settles `promise` and returns what it rejected with (fails when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "Expected the promise to reject" });
}

/** One write connection, so that a connection left broken by the failure would fail the recovery step. */
async function withSingleConnectionStore(
  fn: (store: PostgresStore, sql: postgres.Sql, schema: string) => Promise<void>,
): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    const store = openStore(schema, { poolMax: 1, connectTimeoutS: 3 });
    try {
      await store.migrate();
      await fn(store, sql, schema);
    } finally {
      await store.close();
    }
  });
}

Deno.test("PostgresStore.writeBatch answers StoreUnavailableError when its backend is terminated during a statement, and recovers", async () => {
  const uncaught = recordUncaught();
  try {
    await withSingleConnectionStore(async (store, sql, schema) => {
      const cluster = uniqueCluster();
      // Holding this lock keeps the batch's last statement (the resume point) in flight until the kill.
      const locker = postgres(Deno.env.get("TEST_DATABASE_URL") ?? "", { max: 1, onnotice: () => {} });
      try {
        const locked = locker.begin(async (tx) => {
          await tx.unsafe(`lock table "${schema}".ingester_checkpoints in access exclusive mode`);
          const writing = rejectionOf(store.writeBatch({
            cluster,
            rows: rowsOf(cluster, 0, 200),
            gaps: [],
            resumeVersion: "500",
            fence: null,
          }));
          const pid = await waitForBackend(sql, {
            schema,
            condition: "wait_event_type = 'Lock' and query like '%ingester_checkpoints%'",
          });
          assert.equal(await terminateBackend(sql, pid), true);
          return await writing;
        });
        const error = await locked;
        assert.ok(error instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${error}`);
        assert.match(error.message, /^Cannot write batch of cluster c-[0-9a-f-]+: the database is unavailable \(/);
      } finally {
        await locker.end();
      }
      assert.equal(await countRows(sql, schema, cluster), 0);
      assert.equal(await storedCheckpoint(sql, schema, cluster), null);

      const result = await store.writeBatch({
        cluster,
        rows: rowsOf(cluster, 200, 50),
        gaps: [],
        resumeVersion: "600",
        fence: null,
      });
      assert.deepEqual(result, { inserted: 50, duplicates: 0, gapsInserted: 0 });
      assert.equal(await countRows(sql, schema, cluster), 50);
      assert.equal(await storedCheckpoint(sql, schema, cluster), "600");
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
  }
});

Deno.test("PostgresStore.writeBatch answers StoreUnavailableError when its backend is terminated while the stream waits for its next chunk, and recovers", async () => {
  const uncaught = recordUncaught();
  try {
    await withSingleConnectionStore(async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const source = gatedSource(rowsOf(cluster, 0, 100), rowsOf(cluster, 100, 100));
      const writing = rejectionOf(
        store.writeBatch({ cluster, rows: source.rows, gaps: [], resumeVersion: "700", fence: null }),
      );
      const pid = await waitForBackend(sql, { schema, condition: "state = 'active' and query like 'copy %'" });
      assert.equal(await terminateBackend(sql, pid), true);
      // The body "arrives" only once the backend is gone, as a slow request's would.
      await new Promise((resolve) => setTimeout(resolve, 100));
      source.release();
      const error = await writing;
      assert.ok(error instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${error}`);
      assert.equal(await countRows(sql, schema, cluster), 0);
      assert.equal(await storedCheckpoint(sql, schema, cluster), null);

      const again = gatedSource(rowsOf(cluster, 0, 100), rowsOf(cluster, 100, 100));
      again.release();
      const result = await store.writeBatch({ cluster, rows: again.rows, gaps: [], resumeVersion: "700", fence: null });
      assert.deepEqual(result, { inserted: 200, duplicates: 0, gapsInserted: 0 });
      assert.equal(await countRows(sql, schema, cluster), 200);
      assert.equal(await storedCheckpoint(sql, schema, cluster), "700");
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
  }
});

Deno.test("PostgresStore.writeBatch survives the database stopping mid-transaction and starting again: 503s, then stores", async () => {
  const uncaught = recordUncaught();
  const dataDir = await Deno.makeTempDir({ prefix: "store-restart-pg-" });
  let database = await startEmbeddedDatabase({ dataDir, isPersistent: true });
  const store = createPostgresStore({
    url: database.url,
    schema: "public",
    poolMax: 2,
    retentionDays: 0,
    connectTimeoutS: 3,
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
  const cluster = uniqueCluster();
  try {
    await store.migrate();
    const first = await store.writeBatch({
      cluster,
      rows: rowsOf(cluster, 0, 100),
      gaps: [],
      resumeVersion: "1",
      fence: null,
    });
    assert.deepEqual(first, { inserted: 100, duplicates: 0, gapsInserted: 0 });

    // A streamed batch is open, waiting for its next chunk, when the server shuts down.
    const admin = postgres(database.url, { max: 1, onnotice: () => {} });
    const source = gatedSource(rowsOf(cluster, 100, 100), rowsOf(cluster, 200, 100));
    const streaming = rejectionOf(
      store.writeBatch({ cluster, rows: source.rows, gaps: [], resumeVersion: "2", fence: null }),
    );
    await waitForBackend(admin, { schema: "public", condition: "state = 'active' and query like 'copy %'" });
    await admin.end();
    await database.stop();
    source.release();
    const streamError = await streaming;
    assert.ok(streamError instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${streamError}`);

    const whileDown = await rejectionOf(
      store.writeBatch({ cluster, rows: rowsOf(cluster, 300, 10), gaps: [], resumeVersion: "3", fence: null }),
    );
    assert.ok(whileDown instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${whileDown}`);
    assert.equal(await store.isReady(), false);

    database = await startEmbeddedDatabase({ dataDir, isPersistent: true, port: database.port });
    assert.equal(await store.isReady(), true);
    const afterRestart = await store.writeBatch({
      cluster,
      rows: rowsOf(cluster, 400, 100),
      gaps: [],
      resumeVersion: "4",
      fence: null,
    });
    assert.deepEqual(afterRestart, { inserted: 100, duplicates: 0, gapsInserted: 0 });
    const check = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const rows = await check.unsafe<{ n: number }[]>(
        `select (resource_version::int - 1000) / 100 as n from public.k8s_events where cluster_name = $1
          group by 1 order by 1`,
        [cluster],
      );
      assert.deepEqual(rows.map((row) => row.n), [0, 4]);
      assert.equal(await storedCheckpoint(check, "public", cluster), "4");
    } finally {
      await check.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
    await store.close();
    await database.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
