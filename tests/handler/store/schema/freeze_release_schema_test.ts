import assert from "node:assert/strict";
import { isSchemaChange, toFrozenStatement, toSqlLiteral } from "./freeze_release_schema.ts";

Deno.test("toFrozenStatement writes parameters as literals, $10 before $1, and drops the schema qualifier", () => {
  const params = ["a", 2, null, true, "it's", 6, 7, 8, 9, "ten"];
  const text = `insert into "s".t values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
  assert.equal(
    toFrozenStatement({ text: `  ${text}\n`, params }, "s"),
    "insert into t values ('a', 2, null, true, 'it''s', 6, 7, 8, 9, 'ten')",
  );
});

Deno.test("toSqlLiteral quotes text and writes numbers, booleans and null as SQL does", () => {
  assert.deepEqual([toSqlLiteral("x'y"), toSqlLiteral(1.5), toSqlLiteral(false), toSqlLiteral(undefined)], [
    "'x''y'",
    "1.5",
    "false",
    "null",
  ]);
});

Deno.test("isSchemaChange keeps DDL and inserts and leaves read-only queries out", () => {
  assert.deepEqual(
    ["select pg_advisory_xact_lock(1)", "  SELECT 1", "create table t (a int)", "insert into t values (1)"].map(
      isSchemaChange,
    ),
    [false, false, true, true],
  );
});
