import assert from "node:assert/strict";
import type postgres from "postgres";
import { createLogger } from "../../../../shared/telemetry/log.ts";
import { KnownPartitions } from "../../../../handler/store/schema/known_partitions.ts";
import type { WriteDatabase, WriteSession } from "../../../../handler/store/write_session.ts";
import { withTestSchema } from "../../../support/database.ts";
import { makeRow, openStore } from "../store_support.ts";

/** A WriteDatabase over the test's admin connection that counts its transactions. */
function countingDatabase(sql: postgres.Sql): { database: WriteDatabase; transactions: () => number } {
  let transactions = 0;
  const session = (tx: postgres.TransactionSql): WriteSession => ({
    query: async <T>(text: string, params: readonly (string | number | boolean | null)[] = []) =>
      await tx.unsafe(text, params as string[]) as unknown as T[],
    execute: async (text) => (await tx.unsafe(text)).count,
    copyFrom: (text) => tx.unsafe(text).writable(),
    savepoint: async <T>(body: (inner: WriteSession) => Promise<T>) =>
      await tx.savepoint((inner) => body(session(inner))) as T,
  });
  const database: WriteDatabase = {
    begin: async <T>(body: (inner: WriteSession) => Promise<T>) => {
      transactions++;
      return await sql.begin((tx) => body(session(tx))) as T;
    },
  };
  return { database, transactions: () => transactions };
}

async function partitionNames(sql: postgres.Sql, schema: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
       join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 order by 1`,
    [schema],
  );
  return rows.map((row) => String(row.relname));
}

async function migrated(schema: string): Promise<void> {
  const store = openStore(schema);
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}

Deno.test("KnownPartitions.ensure creates a missing day's partition once, then answers from memory", async () => {
  await withTestSchema(async (schema, sql) => {
    await migrated(schema);
    const { database, transactions } = countingDatabase(sql);
    const logs: string[] = [];
    const partitions = new KnownPartitions({
      database,
      schema,
      logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
    });
    await partitions.ensure(["2026-11-20"]);
    await partitions.ensure(["2026-11-20"]);
    assert.equal(transactions(), 1);
    assert.deepEqual(await partitionNames(sql, schema), ["k8s_events_2026_11_20"]);
    assert.deepEqual(logs.map((line) => JSON.parse(line).msg), ["created partition"]);
  });
});

Deno.test("KnownPartitions.forget makes the next ensure recreate a dropped partition", async () => {
  await withTestSchema(async (schema, sql) => {
    await migrated(schema);
    const { database, transactions } = countingDatabase(sql);
    const partitions = new KnownPartitions({
      database,
      schema,
      logger: createLogger({ isDebug: false, write: () => {} }),
    });
    await partitions.ensure(["2026-11-20"]);
    await sql.unsafe(`drop table "${schema}".k8s_events_2026_11_20`);
    partitions.forget(["2026-11-20"]);
    await partitions.ensure(["2026-11-20"]);
    assert.equal(transactions(), 2);
    assert.deepEqual(await partitionNames(sql, schema), ["k8s_events_2026_11_20"]);
  });
});

Deno.test("KnownPartitions.hasUnknownDay is true only for rows on a day not ensured", async () => {
  await withTestSchema(async (schema, sql) => {
    await migrated(schema);
    const { database } = countingDatabase(sql);
    const partitions = new KnownPartitions({
      database,
      schema,
      logger: createLogger({ isDebug: false, write: () => {} }),
    });
    await partitions.ensure(["2026-11-20"]);
    const known = makeRow("c", 1, { createdAt: new Date("2026-11-20T23:59:59.999Z") });
    const next = makeRow("c", 2, { createdAt: new Date("2026-11-21T00:00:00.000Z") });
    assert.equal(partitions.hasUnknownDay([known, known]), false);
    assert.equal(partitions.hasUnknownDay([known, next]), true);
    assert.equal(partitions.hasUnknownDay([]), false);
  });
});
