/**
 * The `notify_strategy` line: the ways to write a batch with one NOTIFY per inserted row, compared on identical
 * tables.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "../../handler/store/write/copy_encoding.ts";
import { copyRows, createEventsTable, perSecond, type Sql } from "./bench_database.ts";

const NOTIFY_STRATEGIES = [
  { name: "staging_no_notify", isDirect: false, notify: "none" },
  { name: "staging_per_row_trigger", isDirect: false, notify: "row" },
  { name: "staging_statement_trigger", isDirect: false, notify: "statement" },
  { name: "staging_notify_in_statement", isDirect: false, notify: "in_statement" },
  { name: "direct_copy_per_row_trigger", isDirect: true, notify: "row" },
  { name: "direct_copy_statement_trigger", isDirect: true, notify: "statement" },
] as const;

/**
 * The ways to write a batch with one NOTIFY per inserted row, each on a fresh identical table, in 5,000-row
 * transactions: staging COPY + INSERT ... SELECT ... ON CONFLICT DO NOTHING with a per-row trigger, a statement
 * trigger reading the transition table, or pg_notify over the INSERT's RETURNING; and COPY straight into the table
 * (in a savepoint, as the store does for new rows) with either trigger. Two interleaved rounds.
 */
export async function measureNotifyStrategies(
  sql: Sql,
  rows: readonly EventRow[],
  options: { days: readonly string[]; batchRecords: number },
) {
  const { days } = options;
  const schema = "bench_notify";
  const table = `${schema}.k8s_events`;
  const payload = (row: string) =>
    `json_build_object('event_id', ${row}event_id, 'global_uid', ${row}global_uid)::text`;
  const columns = COPY_COLUMNS.join(", ");
  const totals = new Map<string, number>(NOTIFY_STRATEGIES.map((s) => [s.name, 0]));
  for (let round = 0; round < 2; round++) {
    for (const strategy of NOTIFY_STRATEGIES) {
      await createEventsTable(sql, schema, days);
      if (strategy.notify === "row") {
        await sql.unsafe(`create function ${schema}.per_row() returns trigger language plpgsql as $$
          begin perform pg_notify('bench_notify', ${payload("new.")}); return null; end $$`);
        await sql.unsafe(`create trigger n after insert on ${table} for each row execute function ${schema}.per_row()`);
      } else if (strategy.notify === "statement") {
        await sql.unsafe(`create function ${schema}.per_statement() returns trigger language plpgsql as $$
          begin perform pg_notify('bench_notify', ${payload("")}) from inserted_rows; return null; end $$`);
        await sql.unsafe(`create trigger n after insert on ${table} referencing new table as inserted_rows
          for each statement execute function ${schema}.per_statement()`);
      }
      const insert = strategy.notify === "in_statement"
        ? `with i as (insert into ${table} (${columns}) select ${columns} from pg_temp.staging
             on conflict do nothing returning event_id, global_uid)
           select count(pg_notify('bench_notify', ${payload("")})) from i`
        : `insert into ${table} (${columns}) select ${columns} from pg_temp.staging on conflict do nothing`;
      const started = performance.now();
      for (let offset = 0; offset < rows.length; offset += options.batchRecords) {
        const slice = rows.slice(offset, offset + options.batchRecords);
        await sql.begin(async (tx) => {
          if (strategy.isDirect) {
            await tx.savepoint((savepoint) => copyRows(savepoint, table, slice));
            return;
          }
          await tx.unsafe(`create temp table if not exists staging on commit delete rows as
            select ${columns} from ${table} with no data`);
          await copyRows(tx, "pg_temp.staging", slice);
          await tx.unsafe(insert);
        });
      }
      totals.set(strategy.name, totals.get(strategy.name)! + (performance.now() - started));
      await sql.unsafe(`drop table if exists pg_temp.staging`);
    }
  }
  await sql.unsafe(`drop schema ${schema} cascade`);
  return Object.fromEntries(
    NOTIFY_STRATEGIES.map((s) => [`${s.name}_events_per_s`, perSecond(rows.length * 2, totals.get(s.name)!)]),
  );
}
