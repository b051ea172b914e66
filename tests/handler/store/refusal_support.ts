/**
 * Tables stricter than the handler's own, as an adopted schema may be: the Krateo table with its NOT NULL columns,
 * and constraints, a trigger, a narrower column type and an index that the handler does not know about, each
 * refusing rows for their values.
 */
import type postgres from "postgres";
import { applyKrateoSchema } from "./store_support.ts";

/** The Krateo stack's columns that are NOT NULL in its real schema, beyond the identity columns. */
export const KRATEO_NOT_NULL_COLUMNS = ["event_type", "namespace", "resource_kind", "resource_name"] as const;

/**
 * Creates the Krateo `k8s_events` (tests/fixtures/krateo_schema.sql) in `schema` and makes the columns of
 * KRATEO_NOT_NULL_COLUMNS NOT NULL, as in the real schema (a no-op for those the fixture already declares so).
 */
export async function applyStrictKrateoSchema(sql: postgres.Sql, schema: string): Promise<void> {
  await applyKrateoSchema(sql, schema);
  const clauses = KRATEO_NOT_NULL_COLUMNS.map((column) => `alter column ${column} set not null`).join(", ");
  await sql.unsafe(`alter table "${schema}".k8s_events ${clauses}`);
}

/** Name of the CHECK constraint added by addRefusingRules: `reason` may not be `Forbidden`. */
export const REASON_CHECK = "reason_not_forbidden";
/** Name of the trigger function added by addRefusingRules: it raises for a message holding `poison`. */
export const POISON_FUNCTION = "reject_poison";
/** Longest `resource_name` once addRefusingRules made it `varchar(63)`. */
export const RESOURCE_NAME_CHARS_MAX = 63;

/**
 * Adds to `k8s_events` in `schema` rules the handler does not know about, each refusing some rows:
 * - `reason` NOT NULL (23502 not_null_violation);
 * - CHECK REASON_CHECK: reason is not `Forbidden` (23514 check_violation);
 * - a BEFORE INSERT row trigger calling POISON_FUNCTION, which raises for a message containing `poison`, quoting the
 *   row's uid in its message (P0001 raise_exception);
 * - `resource_name` becomes `varchar(63)` (22001 string_data_right_truncation);
 * - a btree index on `message`, which cannot hold an incompressible message of a few kB (54000).
 * Call it after the store migrated, so the handler's validation does not know of the NOT NULL either.
 */
export async function addRefusingRules(sql: postgres.Sql, schema: string): Promise<void> {
  const table = `"${schema}".k8s_events`;
  await sql.unsafe(`alter table ${table} alter column reason set not null`);
  await sql.unsafe(`alter table ${table} add constraint ${REASON_CHECK} check (reason <> 'Forbidden')`);
  await sql.unsafe(
    `create function "${schema}".${POISON_FUNCTION}() returns trigger language plpgsql as $fn$
     begin
       if new.message like '%poison%' then
         raise exception 'poisoned event %', new.uid;
       end if;
       return new;
     end
     $fn$`,
  );
  await sql.unsafe(
    `create trigger ${POISON_FUNCTION} before insert on ${table}
       for each row execute function "${schema}".${POISON_FUNCTION}()`,
  );
  await sql.unsafe(`alter table ${table} alter column resource_name type varchar(${RESOURCE_NAME_CHARS_MAX})`);
  await sql.unsafe(`create index k8s_events_message_idx on ${table} (message)`);
}

/** A message an index on `message` cannot hold: 4,000 random base64 characters, which do not compress. */
export function incompressibleMessage(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3_000));
  return btoa(String.fromCharCode(...bytes));
}
