/**
 * The indexes of the partitions the handler creates, against the real layouts: the Krateo table whose partitions the
 * stack's job makes (a deduplication index and six query indexes each), and the handler's own table.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { toIndexCopyName } from "../../../../handler/store/schema/partition_indexes.ts";
import { withTestSchema } from "../../../support/database.ts";
import {
  applyKrateoSchema,
  createKrateoPartition,
  KRATEO_PARTITION_DAY,
  makeRow,
  openStore,
  uniqueCluster,
  withStore,
} from "../store_support.ts";

/** The index definitions of a partition, sorted, with the partition's name and the schema written as `<p>`/`<s>`. */
async function indexDefinitionsOf(sql: postgres.Sql, schema: string, partition: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select indexdef from pg_indexes where schemaname = $1 and tablename = $2`,
    [schema, partition],
  );
  return rows.map((row) => String(row.indexdef).replaceAll(`"${schema}"`, "<s>").replaceAll(schema, "<s>"))
    .map((definition) => definition.replaceAll(partition, "<p>"))
    .sort();
}

async function indexNamesOf(sql: postgres.Sql, schema: string, partition: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select indexname from pg_indexes where schemaname = $1 and tablename = $2 order by 1`,
    [schema, partition],
  );
  return rows.map((row) => String(row.indexname));
}

const KRATEO_PARTITION = `k8s_events_${KRATEO_PARTITION_DAY.replaceAll("-", "_")}`;

Deno.test("toIndexCopyName puts the new partition's name in place of the template's, or leaves the name to PostgreSQL", () => {
  const names = { template: "k8s_events_2026_12_03", partition: "k8s_events_2026_12_04" };
  assert.equal(toIndexCopyName("uq_k8s_events_2026_12_03_dedup", names), "uq_k8s_events_2026_12_04_dedup");
  assert.equal(toIndexCopyName("k8s_events_2026_12_03_uid_rv_idx", names), "k8s_events_2026_12_04_uid_rv_idx");
  assert.equal(toIndexCopyName("events_by_reason", names), null);
});

Deno.test("A day the handler creates on the Krateo table gets the indexes of the stack's partition, named as its job names them", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    const store = openStore(schema);
    try {
      await store.migrate();
      const cluster = uniqueCluster();
      const row = makeRow(cluster, 1, { createdAt: new Date("2026-12-04T08:00:00Z") });
      const batch = { cluster, rows: [row], gaps: [], resumeVersion: null, fence: null };
      assert.deepEqual(await store.writeBatch(batch), { inserted: 1, duplicates: 0, gapsInserted: 0 });
      const created = "k8s_events_2026_12_04";
      const expected = await indexDefinitionsOf(sql, schema, KRATEO_PARTITION);
      assert.equal(expected.length, 7);
      assert.deepEqual(await indexDefinitionsOf(sql, schema, created), expected);
      assert.deepEqual(await indexNamesOf(sql, schema, created), [
        "idx_k8s_events_2026_12_04_composition",
        "idx_k8s_events_2026_12_04_global_uid_created",
        "idx_k8s_events_2026_12_04_labels",
        "idx_k8s_events_2026_12_04_obj",
        "idx_k8s_events_2026_12_04_resource_latest",
        "idx_k8s_events_2026_12_04_type",
        "uq_k8s_events_2026_12_04_dedup",
      ]);
      // The stack's job, running later for that day, finds every index it would make and adds none.
      await createKrateoPartition(sql, schema, "2026-12-04");
      assert.equal((await indexNamesOf(sql, schema, created)).length, 7);
      // The copied unique index deduplicates.
      assert.deepEqual(await store.writeBatch(batch), { inserted: 0, duplicates: 1, gapsInserted: 0 });
    } finally {
      await store.close();
    }
  });
});

Deno.test("A day the handler creates copies the newest partition's indexes, and adds the unique index when it has none", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    // A newer partition made by hand: no unique index, one index named freely, one partial expression index.
    await sql.unsafe(
      `create table "${schema}".k8s_events_2026_01_01 partition of "${schema}".k8s_events
         for values from ('2026-01-01 00:00:00+00') to ('2026-01-02 00:00:00+00')`,
    );
    await sql.unsafe(`create index events_by_reason on "${schema}".k8s_events_2026_01_01 (reason, created_at)`);
    await sql.unsafe(
      `create index k8s_events_2026_01_01_warnings on "${schema}".k8s_events_2026_01_01
         ((raw ->> 'reason')) where event_type = 'Warning'`,
    );
    const logs: string[] = [];
    const store = openStore(schema, {}, logs);
    try {
      await store.migrate();
      await store.ensurePartitions(["2026-12-04"]);
      assert.deepEqual(await indexDefinitionsOf(sql, schema, "k8s_events_2026_12_04"), [
        "CREATE INDEX <p>_reason_created_at_idx ON <s>.<p> USING btree (reason, created_at)",
        "CREATE INDEX <p>_warnings ON <s>.<p> USING btree (((raw ->> 'reason'::text))) " +
        "WHERE (event_type = 'Warning'::text)",
        "CREATE UNIQUE INDEX <p>_global_uid_resource_version_key ON <s>.<p> USING btree (global_uid, resource_version)",
      ]);
      const line = logs.map((l) => JSON.parse(l)).find((l) => l.msg === "created partition");
      assert.deepEqual([line.day, line.template, line.skippedIndexes], ["2026-12-04", "k8s_events_2026_01_01", ""]);
      const cluster = uniqueCluster();
      const row = makeRow(cluster, 1, { createdAt: new Date("2026-12-04T08:00:00Z") });
      const batch = { cluster, rows: [row, row], gaps: [], resumeVersion: null, fence: null };
      assert.deepEqual(await store.writeBatch(batch), { inserted: 1, duplicates: 1, gapsInserted: 0 });
      assert.deepEqual(await store.writeBatch(batch), { inserted: 0, duplicates: 2, gapsInserted: 0 });
    } finally {
      await store.close();
    }
  });
});

Deno.test("A day the handler creates on its own table has the unique index and the event_id index of k8s_events", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    await store.ensurePartitions(["2026-12-03", "2026-12-04"]);
    const expected = [
      "CREATE INDEX <p>_event_id_idx ON <s>.<p> USING btree (event_id)",
      "CREATE UNIQUE INDEX <p>_global_uid_resource_version_key ON <s>.<p> USING btree (global_uid, resource_version)",
    ];
    assert.deepEqual(await indexDefinitionsOf(sql, schema, "k8s_events_2026_12_03"), expected);
    // The second day copies the first one's own index only; the event_id index comes from k8s_events, once.
    assert.deepEqual(await indexDefinitionsOf(sql, schema, "k8s_events_2026_12_04"), expected);
    const attached = await sql.unsafe(
      `select count(*)::int as n from pg_inherits h join pg_class c on c.oid = h.inhrelid
        where c.relname = any ($1) and c.relnamespace = $2::regnamespace`,
      [["k8s_events_2026_12_04_event_id_idx"], `"${schema}"`],
    );
    assert.equal(attached[0]?.n, 1);
  });
});
