import assert from "node:assert/strict";
import postgres from "postgres";
import { testDatabaseUrl, uniqueSchemaName, withTestSchema } from "../../../support/database.ts";
import {
  applyMigrations,
  LATEST_MIGRATION_VERSION,
  LOOKUP_INDEXES,
  MIGRATIONS,
} from "../../../../handler/store/schema/migrations.ts";
import type { SqlValue } from "../../../../handler/store/schema/sql_runner.ts";
import { createLogger } from "../../../../shared/telemetry/log.ts";
import { applyKrateoSchema, listenForCluster, makeRow, openStore, uniqueCluster } from "../store_support.ts";

async function triggersOf(sql: postgres.Sql, schema: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select t.tgname as name from pg_trigger t
      where t.tgrelid = to_regclass($1) and not t.tgisinternal order by 1`,
    [`"${schema}".k8s_events`],
  );
  return rows.map((row) => row.name);
}

async function migrationsOf(sql: postgres.Sql, schema: string): Promise<[number, string][]> {
  const rows = await sql.unsafe(`select version, name from "${schema}".ingester_schema_migrations order by version`);
  return rows.map((row) => [row.version, row.name]);
}

const ALL_MIGRATIONS = MIGRATIONS.map((m): [number, string] => [m.version, m.name]);

async function parentIndexesOf(sql: postgres.Sql, schema: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select indexname, indexdef from pg_indexes where schemaname = $1 and tablename = 'k8s_events' order by 1`,
    [schema],
  );
  return rows.map((row) => String(row.indexdef).replace(`"${schema}".`, "").replace(`${schema}.`, ""));
}

async function originOf(sql: postgres.Sql, schema: string): Promise<string | undefined> {
  const rows = await sql.unsafe(`select origin from "${schema}".ingester_events_origin`);
  return rows[0]?.origin;
}

Deno.test("PostgresStore.migrate from six replicas at once applies each version exactly once", async () => {
  await withTestSchema(async (schema, sql) => {
    const stores = Array.from({ length: 6 }, () => openStore(schema));
    try {
      await Promise.all(stores.map((store) => store.migrate()));
      assert.deepEqual(await migrationsOf(sql, schema), ALL_MIGRATIONS);
      assert.deepEqual(await triggersOf(sql, schema), ["ingester_notify_events"]);
      assert.deepEqual(await Promise.all(stores.map((store) => store.isReady())), stores.map(() => true));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});

Deno.test("PostgresStore.migrate creates k8s_events with the columns of range partitioned by day", async () => {
  await withTestSchema(async (schema, sql) => {
    const store = openStore(schema);
    try {
      await store.migrate();
      const columns = await sql.unsafe(
        `select column_name, data_type, is_nullable, column_default from information_schema.columns
          where table_schema = $1 and table_name = 'k8s_events' order by ordinal_position`,
        [schema],
      );
      assert.deepEqual(columns.map((c) => [c.column_name, c.data_type, c.is_nullable, c.column_default]), [
        ["created_at", "timestamp with time zone", "NO", null],
        ["event_id", "uuid", "NO", "gen_random_uuid()"],
        ["cluster_name", "text", "NO", null],
        ["uid", "text", "NO", null],
        ["global_uid", "text", "NO", null],
        ["namespace", "text", "YES", null],
        ["resource_kind", "text", "YES", null],
        ["resource_name", "text", "YES", null],
        ["involved_object_uid", "text", "YES", null],
        ["event_type", "text", "YES", null],
        ["reason", "text", "YES", null],
        ["message", "text", "YES", null],
        ["composition_id", "uuid", "YES", null],
        ["raw", "jsonb", "NO", null],
        ["resource_version", "text", "NO", null],
      ]);
      const key = await sql.unsafe(`select pg_get_partkeydef(to_regclass($1)) as key`, [`"${schema}".k8s_events`]);
      assert.equal(key[0]?.key, "RANGE (created_at)");
      assert.deepEqual(await parentIndexesOf(sql, schema), [
        "CREATE INDEX k8s_events_event_id_idx ON ONLY k8s_events USING btree (event_id)",
      ]);
      assert.equal(await originOf(sql, schema), "created");
      const tables = await sql.unsafe(
        `select tablename from pg_tables where schemaname = $1 and tablename like 'ingester_%' order by 1`,
        [schema],
      );
      assert.deepEqual(tables.map((t) => t.tablename), [
        "ingester_checkpoints",
        "ingester_events_origin",
        "ingester_fences",
        "ingester_gaps",
        "ingester_schema_migrations",
      ]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.migrate a second time applies nothing", async () => {
  await withTestSchema(async (schema, sql) => {
    const logs: string[] = [];
    const store = openStore(schema, {}, logs);
    try {
      await store.migrate();
      await store.migrate();
      const ready = logs.map((line) => JSON.parse(line)).filter((line) => line.msg === "schema ready");
      assert.deepEqual(ready.map((line) => line.applied), [ALL_MIGRATIONS.map(([v]) => v).join(","), ""]);
      assert.deepEqual(await migrationsOf(sql, schema), ALL_MIGRATIONS);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.migrate creates a schema that does not exist yet", async () => {
  await withTestSchema(async (_, sql) => {
    const schema = uniqueSchemaName("new");
    const store = openStore(schema);
    try {
      await store.migrate();
      assert.equal(await store.isReady(), true);
      assert.equal(LATEST_MIGRATION_VERSION, 5);
    } finally {
      await store.close();
      await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    }
  });
});

Deno.test("PostgresStore.migrate uses an existing Krateo k8s_events as it is: its trigger, its partitions, its indexes", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    const store = openStore(schema);
    try {
      await store.migrate();
      assert.deepEqual(await triggersOf(sql, schema), ["k8s_events_notify"]);
      const indexes = await sql.unsafe(
        `select indexname from pg_indexes where schemaname = $1 and tablename = 'k8s_events_2021_05_05' order by 1`,
        [schema],
      );
      assert.deepEqual(indexes.map((i) => i.indexname), [
        "idx_k8s_events_2021_05_05_composition",
        "idx_k8s_events_2021_05_05_global_uid_created",
        "idx_k8s_events_2021_05_05_labels",
        "idx_k8s_events_2021_05_05_obj",
        "idx_k8s_events_2021_05_05_resource_latest",
        "idx_k8s_events_2021_05_05_type",
        "uq_k8s_events_2021_05_05_dedup",
      ]);
      // Nothing declared on the adopted table itself: its owner's indexes are per partition, and stay so.
      assert.deepEqual(await parentIndexesOf(sql, schema), []);
      assert.deepEqual(await originOf(sql, schema), "adopted");
      assert.deepEqual(await migrationsOf(sql, schema), ALL_MIGRATIONS);
      // Rows of the existing partition's day go there and are deduplicated by its own index.
      const cluster = uniqueCluster();
      const row = makeRow(cluster, 1, { createdAt: new Date("2021-05-05T16:22:15Z") });
      const batch = { cluster, rows: [row], gaps: [], resumeVersion: null, fence: null };
      assert.deepEqual(await store.writeBatch(batch), { inserted: 1, duplicates: 0, gapsInserted: 0 });
      assert.deepEqual(await store.writeBatch(batch), { inserted: 0, duplicates: 1, gapsInserted: 0 });
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.migrate adds only the columns an existing k8s_events lacks, nullable", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await sql.unsafe(`alter table "${schema}".k8s_events drop column involved_object_uid, drop column composition_id`);
    const logs: string[] = [];
    const store = openStore(schema, {}, logs);
    try {
      await store.migrate();
      const added = await sql.unsafe(
        `select column_name, data_type, is_nullable from information_schema.columns
          where table_schema = $1 and table_name = 'k8s_events' and column_name in ('involved_object_uid', 'composition_id')
          order by column_name`,
        [schema],
      );
      assert.deepEqual(added.map((c) => [c.column_name, c.data_type, c.is_nullable]), [
        ["composition_id", "uuid", "YES"],
        ["involved_object_uid", "text", "YES"],
      ]);
      const messages = logs.map((line) => JSON.parse(line)).filter((line) => line.msg.startsWith("added missing"));
      assert.deepEqual(messages.map((line) => line.column), ["involved_object_uid", "composition_id"]);
      const cluster = uniqueCluster();
      const batch = { cluster, rows: [makeRow(cluster, 1)], gaps: [], resumeVersion: null, fence: null };
      assert.deepEqual(await store.writeBatch(batch), { inserted: 1, duplicates: 0, gapsInserted: 0 });
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.migrate adds the NOTIFY trigger to an existing k8s_events that has none", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await sql.unsafe(`drop trigger k8s_events_notify on "${schema}".k8s_events`);
    const store = openStore(schema);
    const cluster = uniqueCluster();
    const listener = await listenForCluster(cluster);
    try {
      await store.migrate();
      assert.deepEqual(await triggersOf(sql, schema), ["ingester_notify_events"]);
      const rows = [makeRow(cluster, 1), makeRow(cluster, 2)];
      await store.writeBatch({ cluster, rows, gaps: [], resumeVersion: null, fence: null });
      await listener.waitFor(2);
      const expected = await sql.unsafe(
        `select json_build_object('event_id', event_id, 'global_uid', global_uid)::text as payload
           from "${schema}".k8s_events`,
      );
      assert.deepEqual([...listener.payloads].sort(), expected.map((row) => row.payload).sort());
    } finally {
      await listener.close();
      await store.close();
    }
  });
});

/** Creates `notify_other()` and a per-row trigger on k8s_events that notifies channel `other`. */
async function addOtherChannelTrigger(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.unsafe(
    `create function "${schema}".notify_other() returns trigger language plpgsql as $fn$
     begin
       -- PERFORM pg_notify('events', ...) was here before; now this trigger feeds another reader.
       perform pg_notify('other', NEW.global_uid);
       return NEW;
     end
     $fn$`,
  );
  await sql.unsafe(
    `create trigger k8s_events_notify_other after insert on "${schema}".k8s_events
       for each row execute function "${schema}".notify_other()`,
  );
}

Deno.test("PostgresStore.migrate adds its NOTIFY trigger when the existing trigger notifies another channel", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await sql.unsafe(`drop trigger k8s_events_notify on "${schema}".k8s_events`);
    await addOtherChannelTrigger(sql, schema);
    const store = openStore(schema);
    const cluster = uniqueCluster();
    const listener = await listenForCluster(cluster);
    const other = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
    const otherPayloads: string[] = [];
    await other.listen("other", (payload) => {
      if (payload.startsWith(`${cluster}:`)) otherPayloads.push(payload);
    });
    try {
      await store.migrate();
      assert.deepEqual(await triggersOf(sql, schema), ["ingester_notify_events", "k8s_events_notify_other"]);
      const rows = [1, 2, 3].map((n) => makeRow(cluster, n, { createdAt: new Date("2021-05-05T10:00:00Z") }));
      await store.writeBatch({ cluster, rows, gaps: [], resumeVersion: null, fence: null });
      await listener.waitFor(3);
      // A later row's notification comes after any extra one for the first three (delivery is in commit order).
      await store.writeBatch({ cluster, rows: [makeRow(cluster, 4)], gaps: [], resumeVersion: null, fence: null });
      await listener.waitFor(4);
      const expected = await sql.unsafe(
        `select json_build_object('event_id', event_id, 'global_uid', global_uid)::text as payload
           from "${schema}".k8s_events`,
      );
      assert.deepEqual([...listener.payloads].sort(), expected.map((row) => row.payload).sort());
      // The other channel is read by another connection, which may get row 4's notification a moment later.
      for (const deadline = Date.now() + 10_000; otherPayloads.length < 4 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(otherPayloads.sort(), [1, 2, 3, 4].map((n) => makeRow(cluster, n).globalUid).sort());
    } finally {
      await other.end({ timeout: 1 });
      await listener.close();
      await store.close();
    }
  });
});

Deno.test("PostgresStore.migrate keeps an existing trigger notifying events and adds none, with other triggers beside it", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await addOtherChannelTrigger(sql, schema);
    const store = openStore(schema);
    const cluster = uniqueCluster();
    const listener = await listenForCluster(cluster);
    try {
      await store.migrate();
      assert.deepEqual(await triggersOf(sql, schema), ["k8s_events_notify", "k8s_events_notify_other"]);
      const rows = [1, 2].map((n) => makeRow(cluster, n, { createdAt: new Date("2021-05-05T10:00:00Z") }));
      await store.writeBatch({ cluster, rows, gaps: [], resumeVersion: null, fence: null });
      await store.writeBatch({ cluster, rows: [makeRow(cluster, 3)], gaps: [], resumeVersion: null, fence: null });
      await listener.waitFor(3);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(listener.payloads.length, 3);
    } finally {
      await listener.close();
      await store.close();
    }
  });
});

/** Applies the migrations up to `version` only, as a handler released before the later ones would have. */
async function migrateUpTo(schema: string, version: number): Promise<void> {
  const sql = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      const runner = {
        query: async (text: string, params: readonly SqlValue[] = []) =>
          await tx.unsafe(text, params as string[]) as never,
      };
      await applyMigrations(runner, {
        schema,
        logger: createLogger({ isDebug: false, write: () => {} }),
        migrations: MIGRATIONS.filter((m) => m.version <= version),
      });
    });
  } finally {
    await sql.end();
  }
}

Deno.test("PostgresStore.migrate records the origin of a table migrated before it was recorded: created, or adopted", async () => {
  await withTestSchema(async (schema, sql) => {
    await migrateUpTo(schema, 2);
    const store = openStore(schema, { retentionDays: null });
    try {
      assert.deepEqual(await store.migrate(), {
        eventsTableOrigin: "created",
        retentionDays: 30,
        retentionSource: "default for a k8s_events the handler created",
      });
      assert.equal(await originOf(sql, schema), "created");
      assert.equal((await parentIndexesOf(sql, schema)).length, LOOKUP_INDEXES.length);
    } finally {
      await store.close();
    }
  });
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await migrateUpTo(schema, 2);
    const store = openStore(schema, { retentionDays: null });
    try {
      const state = await store.migrate();
      assert.deepEqual([state.eventsTableOrigin, state.retentionDays], ["adopted", 0]);
      assert.deepEqual(await parentIndexesOf(sql, schema), []);
    } finally {
      await store.close();
    }
  });
});
