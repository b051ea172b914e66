/**
 * The two reference figures of `handler_ingest`, measured on the same rows and database: a plain COPY into an
 * identical table without conflict handling or trigger (`copy_limit`), and the Go events-ingester's method
 * (`krateo_strategy`): multi-row INSERT of 100 rows per statement on one connection into the existing stack's table
 * (tests/fixtures/krateo_schema.sql) with its per-row NOTIFY trigger.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "../../handler/store/write/copy_encoding.ts";
import { copyRows, createEventsTable, createPartitions, openSql, perSecond, type Sql } from "./bench_database.ts";

const KRATEO_ROWS_PER_STATEMENT = 100;

/** Events per second of one plain COPY of all rows. */
export async function measureCopyLimit(sql: Sql, rows: readonly EventRow[], days: readonly string[]): Promise<number> {
  await createEventsTable(sql, "bench_copy", days);
  const started = performance.now();
  await copyRows(sql, `"bench_copy".k8s_events`, rows);
  const ms = performance.now() - started;
  await sql.unsafe(`drop schema "bench_copy" cascade`);
  return perSecond(rows.length, ms);
}

/** Events per second of the Krateo method, and the rows it stored. */
export async function measureKrateo(url: string, sql: Sql, rows: readonly EventRow[], days: readonly string[]) {
  const ddl = await Deno.readTextFile(new URL("../fixtures/krateo_schema.sql", import.meta.url));
  await sql.unsafe(`drop schema if exists bench_krateo cascade`);
  await sql.unsafe(`create schema bench_krateo`);
  await sql.begin(async (tx) => {
    await tx.unsafe(`set local search_path to bench_krateo`);
    await tx.unsafe(ddl).simple();
  });
  await createPartitions(sql, "bench_krateo", days);
  const one = openSql(url, 1);
  const toStatement = (count: number) => {
    const tuples = Array.from(
      { length: count },
      (_, r) => `(${COPY_COLUMNS.map((_, c) => `$${r * COPY_COLUMNS.length + c + 1}`).join(", ")})`,
    );
    return `insert into bench_krateo.k8s_events (${COPY_COLUMNS.join(", ")}) values ${tuples.join(", ")}`;
  };
  const statement = toStatement(KRATEO_ROWS_PER_STATEMENT);
  const started = performance.now();
  for (let offset = 0; offset < rows.length; offset += KRATEO_ROWS_PER_STATEMENT) {
    const slice = rows.slice(offset, offset + KRATEO_ROWS_PER_STATEMENT);
    const params = slice.flatMap((row) => [
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
    ]);
    const text = slice.length === KRATEO_ROWS_PER_STATEMENT ? statement : toStatement(slice.length);
    await one.unsafe(text, params, { prepare: true });
  }
  const ms = performance.now() - started;
  await one.end();
  const count = await sql.unsafe(`select count(*)::int as n from bench_krateo.k8s_events`);
  await sql.unsafe(`drop schema bench_krateo cascade`);
  return { eventsPerS: perSecond(rows.length, ms), stored: Number(count[0]?.n) };
}
