import assert from "node:assert/strict";
import type postgres from "postgres";
import { readRequiredColumns } from "../../../../handler/store/schema/required_columns.ts";
import type { SqlRunner } from "../../../../handler/store/schema/sql_runner.ts";
import { withTestSchema } from "../../../support/database.ts";
import { openStore, withStore } from "../store_support.ts";
import { applyStrictKrateoSchema } from "../refusal_support.ts";

/** The admin connection as the runner the function takes. */
const runnerOf = (sql: postgres.Sql): SqlRunner => ({
  query: async (text, params) => await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]) as never,
});

Deno.test("readRequiredColumns finds none on the handler's own k8s_events", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    assert.deepEqual(await readRequiredColumns(runnerOf(sql), { schema }), []);
    assert.deepEqual([...store.requiredColumns()], []);
  });
});

Deno.test("readRequiredColumns finds the strict Krateo table's NOT NULL columns among those a row may leave null", async () => {
  await withTestSchema(async (schema, sql) => {
    assert.deepEqual(await readRequiredColumns(runnerOf(sql), { schema }), [], "no table yet");
    await applyStrictKrateoSchema(sql, schema);
    await sql.unsafe(`alter table "${schema}".k8s_events alter column message set not null`);
    const expected = ["event_type", "message", "namespace", "resource_kind", "resource_name"];
    assert.deepEqual(await readRequiredColumns(runnerOf(sql), { schema }), expected);
    const logs: string[] = [];
    const store = openStore(schema, {}, logs);
    try {
      assert.deepEqual([...store.requiredColumns()], [], "before migrate");
      await store.migrate();
      assert.deepEqual([...store.requiredColumns()].sort(), expected);
      const ready = logs.map((line) => JSON.parse(line)).find((line) => line.msg === "schema ready");
      assert.equal(ready?.requiredColumns, expected.join(","));
    } finally {
      await store.close();
    }
  });
});
