/**
 * The handler behind a real PgBouncer in transaction pooling mode, with fewer server connections than the handler
 * opens client connections, so that its transactions share server connections with each other: migrations,
 * ingest, duplicates, notifications (LISTEN straight on PostgreSQL), session state left on shared connections,
 * a PgBouncer restart mid-ingest and a database outage behind PgBouncer.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createPostgresStore } from "../../handler/store/postgres_store.ts";
import { MIGRATIONS } from "../../handler/store/schema/migrations.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import type { EventRecord } from "../../shared/contract/records.ts";
import { testDatabaseUrl, withTestSchema } from "../support/database.ts";
import { PGBOUNCER_DATABASE, startPgbouncer } from "../support/pgbouncer.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";
import { eventRecord } from "./http/app_harness.ts";
import { listenForCluster, type NotificationLog } from "./store/store_support.ts";
import { recordUncaught } from "./store/restart_support.ts";
import {
  type PooledHandler,
  postBatch,
  postUntilStored,
  readResumeVersion,
  storedKeys,
  type TestCluster,
  withPooledHandler,
} from "./pgbouncer_harness.ts";

type Json = Record<string, unknown>;

/** The 54 real fixture events (core/v1 and events.k8s.io) as records of `cluster`. */
async function fixtureRecords(cluster: string): Promise<EventRecord[]> {
  const lines: string[] = [];
  for (const name of ["core_v1.ndjson", "events_v1.ndjson"]) {
    const text = await Deno.readTextFile(new URL(`../fixtures/${name}`, import.meta.url));
    lines.push(...text.split("\n").filter((line) => line.trim() !== ""));
  }
  return lines.map((line) => ({
    v: 1,
    kind: "event",
    cluster,
    observedAt: "2026-11-20T10:00:00Z",
    event: JSON.parse(line),
  }));
}

function keyOf(record: EventRecord): string {
  const metadata = record.event.metadata as Json;
  return `${record.cluster}:${metadata.uid}/${metadata.resourceVersion}`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Waits for `count` notifications, then a little longer, so that an extra one would be seen too. */
async function settledPayloads(log: NotificationLog, count: number): Promise<string[]> {
  await log.waitFor(count, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return [...log.payloads];
}

async function storedEventIds(pooled: PooledHandler, cluster: TestCluster): Promise<string[]> {
  const rows = await pooled.sql.unsafe<{ id: string }[]>(
    `select event_id::text as id from "${pooled.schema}".k8s_events where cluster_name = $1`,
    [cluster.name],
  );
  return rows.map((row) => row.id).sort();
}

function eventIdsOf(payloads: readonly string[]): string[] {
  return payloads.map((payload) => (JSON.parse(payload) as { event_id: string }).event_id).sort();
}

/** Server and client connections PgBouncer holds for the handler's database. */
async function pooledConnections(pooled: PooledHandler): Promise<{ servers: number; clients: number }> {
  const ofDatabase = (rows: Json[]) => rows.filter((row) => row.database === PGBOUNCER_DATABASE).length;
  return {
    servers: ofDatabase(await pooled.pgbouncer.show("SHOW SERVERS")),
    clients: ofDatabase(await pooled.pgbouncer.show("SHOW CLIENTS")),
  };
}

Deno.test("the handler behind PgBouncer (transaction pooling) migrates, stores, dedupes and announces each row once", async () => {
  await withPooledHandler({ poolSize: 2 }, async (pooled) => {
    const [a, b] = pooled.clusters;
    const [listenA, listenB] = [await listenForCluster(a.name), await listenForCluster(b.name)];
    try {
      const versions = await pooled.sql.unsafe(
        `select version from "${pooled.schema}".ingester_schema_migrations order by version`,
      );
      assert.deepEqual(versions.map((row) => row.version), MIGRATIONS.map((migration) => migration.version));
      const ready = await fetch(`${pooled.baseUrl}/readyz`);
      await ready.body?.cancel();
      assert.equal(ready.status, 200);

      // Eight requests at once (REQUESTS_IN_FLIGHT_MAX): four write connections of the handler, two server connections.
      const fixtures = await fixtureRecords(a.name);
      const generated = Array.from({ length: 240 }, () => eventRecord({ cluster: b.name }));
      const batches = [
        ...chunk(fixtures, 18).map((records) => ({ cluster: a, records })),
        ...chunk(generated, 48).map((records) => ({ cluster: b, records })),
      ];
      assert.equal(batches.length, 8);
      const answers = await Promise.all(batches.map((batch) => postBatch(pooled, batch.cluster, batch.records)));
      assert.deepEqual(
        answers,
        batches.map((batch) => ({
          status: 200,
          body: { accepted: batch.records.length, duplicates: 0, rejected: [] },
        })),
      );
      const connections = await pooledConnections(pooled);
      assert.ok(connections.servers <= 2, JSON.stringify(connections));
      assert.ok(
        connections.clients > connections.servers,
        `server connections are shared: ${JSON.stringify(connections)}`,
      );

      // Replays go through the session-local staging table, on whichever server connection the transaction gets.
      const replay = await postBatch(pooled, a, fixtures.slice(0, 18), { resumeVersion: "a-1" });
      assert.deepEqual(replay, { status: 200, body: { accepted: 0, duplicates: 18, rejected: [] } });
      const fresh = Array.from({ length: 10 }, () => eventRecord({ cluster: b.name }));
      const mixed = await postBatch(pooled, b, [...generated.slice(0, 10), ...fresh], { resumeVersion: "b-1" });
      assert.deepEqual(mixed, { status: 200, body: { accepted: 10, duplicates: 10, rejected: [] } });
      const twice = eventRecord({ cluster: a.name });
      const repeated = await postBatch(pooled, a, [twice, twice], { resumeVersion: "a-2" });
      assert.deepEqual(repeated, { status: 200, body: { accepted: 1, duplicates: 1, rejected: [] } });

      const expectedA = [...fixtures, twice].map(keyOf).sort();
      const expectedB = [...generated, ...fresh].map(keyOf).sort();
      assert.deepEqual(await storedKeys(pooled, [a]), expectedA);
      assert.deepEqual(await storedKeys(pooled, [b]), expectedB);
      assert.deepEqual(eventIdsOf(await settledPayloads(listenA, 55)), await storedEventIds(pooled, a));
      assert.deepEqual(eventIdsOf(await settledPayloads(listenB, 250)), await storedEventIds(pooled, b));
      assert.equal(await readResumeVersion(pooled, a), "a-2");
      assert.equal(await readResumeVersion(pooled, b), "b-1");
    } finally {
      await listenA.close();
      await listenB.close();
    }
  });
});

Deno.test("handlers starting at once behind PgBouncer apply each migration once, under a transaction-level lock", async () => {
  await withTestSchema(async (schema, sql) => {
    const pgbouncer = await startPgbouncer({ poolSize: 2 });
    const logs: string[] = [];
    const stores = Array.from({ length: 4 }, () =>
      createPostgresStore({
        url: pgbouncer.url,
        schema,
        poolMax: 2,
        retentionDays: 0,
        connectTimeoutS: 5,
        logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
      }));
    try {
      await Promise.all(stores.map((store) => store.migrate()));
      const rows = await sql.unsafe(`select version, name from "${schema}".ingester_schema_migrations order by 1`);
      assert.deepEqual(
        rows.map((row) => ({ ...row })),
        MIGRATIONS.map((migration) => ({ version: migration.version, name: migration.name })),
      );
      const applied = logs.filter((line) => line.includes('"applied migration"'))
        .map((line) => (JSON.parse(line) as { version: number }).version);
      assert.deepEqual(applied, MIGRATIONS.map((migration) => migration.version));
      assert.deepEqual(await Promise.all(stores.map((store) => store.isReady())), [true, true, true, true]);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await pgbouncer.stop();
    }
  });
});

Deno.test("the handler leaves no named prepared statement on the server connection it shares through PgBouncer", async () => {
  await withPooledHandler({ poolSize: 1 }, async (pooled) => {
    const [a] = pooled.clusters;
    const answer = await postBatch(pooled, a, (await fixtureRecords(a.name)).slice(0, 5), { resumeVersion: "7" });
    assert.deepEqual(answer, { status: 200, body: { accepted: 5, duplicates: 0, rejected: [] } });
    assert.equal(await readResumeVersion(pooled, a), "7");
    assert.equal(await pooled.handler.store.isReady(), true);
    // A client without prepared statements of its own looks at the one server connection every client shared.
    const probe = postgres(pooled.pgbouncer.url, { max: 1, prepare: false, onnotice: () => {} });
    try {
      const [row] = await probe.unsafe<{ pid: number; prepared: number }[]>(
        "select pg_backend_pid() as pid, (select count(*)::int from pg_prepared_statements) as prepared",
      );
      const servers = (await pooled.pgbouncer.show("SHOW SERVERS")).filter((s) => s.database === PGBOUNCER_DATABASE);
      assert.deepEqual(servers.map((server) => Number(server.remote_pid)), [row?.pid]);
      assert.equal(row?.prepared, 0);
    } finally {
      await probe.end();
    }
  });
});

/** Counts the handler's statements on `schema` that wait for a lock on ingester_checkpoints. */
async function checkpointLockWaiters(sql: postgres.Sql, schema: string): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and position($1 in query) > 0 and query like '%ingester_checkpoints%'`,
    [schema],
  );
  return row?.n ?? 0;
}

async function waitForLockWaiters(sql: postgres.Sql, schema: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (await checkpointLockWaiters(sql, schema) < count) {
    if (Date.now() > deadline) throw new Error(`Cannot see ${count} batches waiting on the checkpoint lock`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("a PgBouncer restart mid-ingest loses nothing: in-flight batches answer 503, their retries store every row once", async () => {
  const uncaught = recordUncaught();
  try {
    await withPooledHandler({ poolSize: 2 }, async (pooled) => {
      const listens = await Promise.all(pooled.clusters.map((cluster) => listenForCluster(cluster.name)));
      const locker = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
      try {
        const plan = pooled.clusters.map((cluster) => ({
          cluster,
          batches: Array.from(
            { length: 5 },
            () => Array.from({ length: 40 }, () => eventRecord({ cluster: cluster.name })),
          ),
          statuses: [] as number[],
        }));
        const send = (entry: (typeof plan)[number], index: number) =>
          postUntilStored(pooled, entry.cluster, entry.batches[index]!, {
            resumeVersion: String(100 + index),
            statuses: entry.statuses,
          });
        const first = await Promise.all(plan.map((entry) => send(entry, 0)));

        // Holding this lock keeps each cluster's next batch in flight, on its server connection, at its last statement.
        let release = () => {};
        const released = new Promise<void>((resolve) => release = resolve);
        let onLocked = () => {};
        const locked = new Promise<void>((resolve) => onLocked = resolve);
        const holding = locker.begin(async (tx) => {
          await tx.unsafe(`lock table "${pooled.schema}".ingester_checkpoints in access exclusive mode`);
          onLocked();
          await released;
        });
        await locked;
        const rest = Promise.all(plan.map(async (entry) => {
          const answers = [];
          for (let index = 1; index < entry.batches.length; index++) answers.push(await send(entry, index));
          return answers;
        }));
        await waitForLockWaiters(pooled.sql, pooled.schema, 2);
        await pooled.pgbouncer.restart();
        release();
        await holding;
        const later = await rest;

        const answers = [...first, ...later.flat()];
        assert.equal(answers.reduce((sum, answer) => sum + answer.accepted, 0), 400);
        assert.equal(answers.reduce((sum, answer) => sum + answer.duplicates, 0), 0);
        for (const entry of plan) {
          // Batch 0 at once, batch 1 refused at least once by the restart, then stored like the rest.
          assert.equal(entry.statuses[0], 200);
          assert.equal(entry.statuses[1], 503, JSON.stringify(entry.statuses));
          assert.equal(entry.statuses.filter((status) => status === 200).length, 5);
          assert.deepEqual(await storedKeys(pooled, [entry.cluster]), entry.batches.flat().map(keyOf).sort());
          assert.equal(await readResumeVersion(pooled, entry.cluster), "104");
        }
        for (const [index, cluster] of pooled.clusters.entries()) {
          assert.deepEqual(
            eventIdsOf(await settledPayloads(listens[index]!, 200)),
            await storedEventIds(pooled, cluster),
          );
        }
      } finally {
        await locker.end();
        await Promise.all(listens.map((listen) => listen.close()));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
  }
});

Deno.test("a database outage behind PgBouncer is answered 503 within query_wait_timeout, then batches are stored", async () => {
  const server = new URL(testDatabaseUrl());
  const proxy = startTcpProxy({ hostname: server.hostname, port: Number(server.port || 5432) });
  const viaProxy = new URL(server);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);
  try {
    await withPooledHandler(
      { poolSize: 2, queryWaitTimeoutS: 2, serverUrl: viaProxy.href, env: { DB_CONNECT_TIMEOUT_S: "5" } },
      async (pooled) => {
        const [a] = pooled.clusters;
        const before = [eventRecord({ cluster: a.name })];
        assert.equal((await postBatch(pooled, a, before)).status, 200);

        await proxy.stop();
        const batch = Array.from({ length: 20 }, () => eventRecord({ cluster: a.name }));
        const started = Date.now();
        const refused = await postBatch(pooled, a, batch, { resumeVersion: "900" });
        const elapsedMs = Date.now() - started;
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(refused.body.code, "DATABASE_UNAVAILABLE");
        // PgBouncer's default query_wait_timeout would hold the request for 120 s.
        assert.ok(elapsedMs < 20_000, `answered after ${elapsedMs} ms`);
        const ready = await fetch(`${pooled.baseUrl}/readyz`);
        await ready.body?.cancel();
        assert.equal(ready.status, 503);

        await pooled.pgbouncer.retarget(testDatabaseUrl());
        const stored = await postUntilStored(pooled, a, batch, { resumeVersion: "900", statuses: [] });
        assert.deepEqual(stored, { accepted: 20, duplicates: 0, rejected: [] });
        assert.deepEqual(await storedKeys(pooled, [a]), [...before, ...batch].map(keyOf).sort());
        assert.equal(await readResumeVersion(pooled, a), "900");
      },
    );
  } finally {
    await proxy.stop();
  }
});
