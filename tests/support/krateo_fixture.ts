/**
 * The existing Krateo stack's `k8s_events` as the fixtures restate it: the table (tests/fixtures/krateo_schema.sql) and
 * the daily partition its partition job makes, with the deduplication index and six indexes for the presenters'
 * queries (tests/fixtures/krateo_partition.sql). Used by the store tests, the benchmark and the sizing benchmark, so
 * that all of them measure the table the stack really has.
 */
import type postgres from "postgres";

/** The table's DDL, unqualified: run it with the search_path set to the schema. */
export async function krateoSchemaDdl(): Promise<string> {
  return await Deno.readTextFile(new URL("../fixtures/krateo_schema.sql", import.meta.url));
}

/** The stack's partition job's statements for one day (`YYYY-MM-DD`), unqualified. */
export async function krateoPartitionDdl(day: string): Promise<string> {
  const template = await Deno.readTextFile(new URL("../fixtures/krateo_partition.sql", import.meta.url));
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return template
    .replaceAll("{partition}", `k8s_events_${day.replaceAll("-", "_")}`)
    .replaceAll("{from}", `${day} 00:00:00+00`)
    .replaceAll("{to}", `${next} 00:00:00+00`);
}

/** Runs unqualified DDL in `schema`, in one transaction. */
export async function runInSchema(sql: postgres.Sql, schema: string, ddl: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local search_path to "${schema}"`);
    await tx.unsafe(ddl).simple();
  });
}

/** Creates the stack's `k8s_events` in `schema` (which must exist) and runs its partition job for each day. */
export async function createKrateoTable(sql: postgres.Sql, schema: string, days: readonly string[]): Promise<void> {
  await runInSchema(sql, schema, await krateoSchemaDdl());
  for (const day of days) await runInSchema(sql, schema, await krateoPartitionDdl(day));
}
