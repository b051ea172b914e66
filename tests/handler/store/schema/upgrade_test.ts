/**
 * Upgrade from the previous release: its schema (tests/fixtures/schema_v2.sql, frozen from commit 8398547 by
 * freeze_release_schema.ts) with rows in every table, then the current migrations through the store. Nothing stored
 * before may change, and the store must go on writing, deduplicating, fencing and announcing on the upgraded schema.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { MIGRATIONS } from "../../../../handler/store/schema/migrations.ts";
import { listPartitions } from "../../../../handler/store/schema/partitions.ts";
import type { SqlRunner, SqlValue } from "../../../../handler/store/schema/sql_runner.ts";
import { COPY_COLUMNS } from "../../../../handler/store/write/copy_encoding.ts";
import { FencedError } from "../../../../handler/store/store.ts";
import type { EventRow } from "../../../../shared/contract/event_row.ts";
import type { GapRecord } from "../../../../shared/contract/records.ts";
import { withTestSchema } from "../../../support/database.ts";
import { eventRecord } from "../../http/app_harness.ts";
import { listenForCluster, openStore, uniqueCluster } from "../store_support.ts";
import { fixtureEventRows, toStoredRow } from "./fixture_rows.ts";

/** The release whose schema is upgraded, and its latest migration version. */
const RELEASE_SCHEMA = new URL("../../../fixtures/schema_v2.sql", import.meta.url);
const RELEASE_VERSION = 2;
const TABLES = [
  "k8s_events",
  "ingester_checkpoints",
  "ingester_fences",
  "ingester_gaps",
  "ingester_schema_migrations",
] as const;
type Table = (typeof TABLES)[number];

function asRunner(sql: postgres.Sql): SqlRunner {
  return {
    query: async <T>(text: string, params: readonly SqlValue[] = []) => [...await sql.unsafe(text, [...params])] as T[],
  };
}

async function applyReleaseSchema(sql: postgres.Sql, schema: string): Promise<void> {
  const ddl = await Deno.readTextFile(RELEASE_SCHEMA);
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local search_path to "${schema}"`);
    await tx.unsafe(ddl).simple();
  });
}

/** Inserts rows as the release stored them: the same columns, `event_id` left to its default. */
async function insertReleaseRows(sql: postgres.Sql, schema: string, rows: readonly EventRow[]): Promise<void> {
  for (const row of rows) {
    await sql.unsafe(
      `insert into "${schema}".k8s_events (${COPY_COLUMNS.join(", ")})
       values ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::uuid, $13::jsonb, $14)`,
      [
        row.createdAt,
        row.clusterName,
        row.uid,
        row.globalUid,
        row.namespace,
        row.resourceKind,
        row.resourceName,
        row.involvedObjectUid,
        row.eventType,
        row.reason,
        row.message,
        row.compositionId,
        row.raw,
        row.resourceVersion,
      ],
    );
  }
}

async function insertClusterState(sql: postgres.Sql, schema: string, clusters: readonly string[]): Promise<void> {
  for (const [i, cluster] of clusters.entries()) {
    await sql.unsafe(
      `insert into "${schema}".ingester_checkpoints (cluster, resume_version, updated_at)
       values ($1, $2, '2026-11-24T08:00:00Z')`,
      [cluster, String(5000 + i)],
    );
    await sql.unsafe(
      `insert into "${schema}".ingester_fences (cluster, holder, transitions, updated_at)
       values ($1, $2, $3, '2026-11-24T07:00:00Z')`,
      [cluster, `relay-${i}`, 3 + i],
    );
    await sql.unsafe(
      `insert into "${schema}".ingester_gaps (cluster, from_version, to_version, reason, observed_at, recorded_at)
       values ($1, $2, $3, 'WATCH_EXPIRED', '2026-11-23T10:00:00Z', '2026-11-23T10:00:01Z')`,
      [cluster, i === 0 ? null : "4000", "4500"],
    );
  }
}

/** Each table's column names, as the release created them. */
async function columnsOf(sql: postgres.Sql, schema: string): Promise<Map<Table, string[]>> {
  const columns = new Map<Table, string[]>();
  for (const table of TABLES) {
    const rows = await sql.unsafe<{ name: string }[]>(
      `select column_name as name from information_schema.columns where table_schema = $1 and table_name = $2`,
      [schema, table],
    );
    columns.set(table, rows.map((row) => row.name).sort());
  }
  return columns;
}

/** Every row of every table, as JSON text of the given columns, sorted. */
async function snapshot(sql: postgres.Sql, schema: string, columns: Map<Table, string[]>) {
  const tables = {} as Record<Table, string[]>;
  for (const table of TABLES) {
    const rows = await sql.unsafe<{ row: string }[]>(
      `select (select jsonb_object_agg(key, value) from jsonb_each(to_jsonb(t))
                where key = any($1::text[]))::text as row
         from "${schema}".${table} t`,
      [columns.get(table) ?? []] as never[],
    );
    tables[table] = rows.map((row) => row.row).sort();
  }
  return tables;
}

Deno.test("the current migrations upgrade the previous release's schema without changing a stored row", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyReleaseSchema(sql, schema);
    const cluster = uniqueCluster();
    const other = uniqueCluster();
    const releaseRows = await fixtureEventRows(cluster);
    assert.equal(releaseRows.length, 54);
    await insertReleaseRows(sql, schema, releaseRows);
    await insertClusterState(sql, schema, [cluster, other]);
    const columns = await columnsOf(sql, schema);
    const before = await snapshot(sql, schema, columns);
    const partitionsBefore = await listPartitions(asRunner(sql), { schema });
    assert.equal(partitionsBefore.length, 17);
    assert.equal(before.ingester_schema_migrations.length, RELEASE_VERSION);

    const store = openStore(schema);
    try {
      await store.migrate();
      assert.equal(await store.isReady(), true);
      const after = await snapshot(sql, schema, columns);
      const { ingester_schema_migrations: migrationsAfter, ...tablesAfter } = after;
      const { ingester_schema_migrations: migrationsBefore, ...tablesBefore } = before;
      assert.deepEqual(tablesAfter, tablesBefore);
      assert.deepEqual(migrationsAfter.filter((row) => migrationsBefore.includes(row)), migrationsBefore);
      const versions = await sql.unsafe(`select version from "${schema}".ingester_schema_migrations order by 1`);
      assert.deepEqual(versions.map((row) => row.version), MIGRATIONS.map((migration) => migration.version));
      assert.deepEqual(
        await listPartitions(asRunner(sql), { schema }),
        partitionsBefore,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("after the upgrade the store dedupes against the release's rows, gaps and fences, and announces new rows", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyReleaseSchema(sql, schema);
    const cluster = uniqueCluster();
    const releaseRows = await fixtureEventRows(cluster);
    await insertReleaseRows(sql, schema, releaseRows);
    await insertClusterState(sql, schema, [cluster]);
    const listen = await listenForCluster(cluster);
    const store = openStore(schema);
    try {
      await store.migrate();
      const fresh = Array.from({ length: 3 }, () => toStoredRow(eventRecord({ cluster })));
      const replayedGap: GapRecord = {
        v: 1,
        kind: "gap",
        cluster,
        from: null,
        to: "4500",
        reason: "WATCH_EXPIRED",
        observedAt: "2026-11-23T10:00:00Z",
      };
      const newGap: GapRecord = { ...replayedGap, from: "4500", to: "4700" };
      const result = await store.writeBatch({
        cluster,
        rows: [...releaseRows.slice(0, 10), ...fresh],
        gaps: [replayedGap, newGap],
        resumeVersion: "6000",
        fence: { holder: "relay-0", transitions: 3 },
      });
      assert.deepEqual(result, { inserted: 3, duplicates: 10, gapsInserted: 1 });

      await assert.rejects(
        store.writeBatch({
          cluster,
          rows: fresh,
          gaps: [],
          resumeVersion: "6001",
          fence: { holder: "x", transitions: 2 },
        }),
        (error: unknown) => error instanceof FencedError && error.newest.holder === "relay-0",
      );
      const checkpoint = await store.readCheckpoint(cluster);
      assert.deepEqual({ resume: checkpoint.resumeVersion, fence: checkpoint.fence }, {
        resume: "6000",
        fence: { holder: "relay-0", transitions: 3 },
      });

      await listen.waitFor(3);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const announced = listen.payloads.map((payload) => (JSON.parse(payload) as { global_uid: string }).global_uid);
      assert.deepEqual(announced.sort(), fresh.map((row) => row.globalUid).sort());
      const [count] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
      assert.equal(count?.n, 57);
      const [gaps] = await sql.unsafe(`select count(*)::int as n from "${schema}".ingester_gaps`);
      assert.equal(gaps?.n, 2);
    } finally {
      await store.close();
      await listen.close();
    }
  });
});
