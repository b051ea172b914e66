/**
 * Who made `k8s_events`: the handler's migrations ("created"), or another schema owner before the handler first
 * started ("adopted", the Krateo stack for example). Recorded once, in `ingester_events_origin`; retention and the
 * indexes the handler adds depend on it, since another owner's partitions and indexes are not the handler's to change.
 */
import { listInsertTriggers } from "./notify_triggers.ts";
import { EVENTS_TABLE } from "./partitions.ts";
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";

export type EventsTableOrigin = "created" | "adopted";

/** The one-row table holding the origin. */
export const ORIGIN_TABLE = "ingester_events_origin";

/** Name of the handler's own NOTIFY trigger (and of its function) on a table it created. */
export const NOTIFY_FUNCTION = "ingester_notify_events";

/** Creates the origin table when missing. */
export async function createOriginTable(runner: SqlRunner, options: { schema: string }): Promise<void> {
  await runner.query(
    `create table if not exists ${quoteIdentifier(options.schema)}.${ORIGIN_TABLE} (
       is_singleton boolean primary key default true check (is_singleton),
       origin text not null check (origin in ('created', 'adopted')),
       recorded_at timestamptz not null default now())`,
  );
}

/** Records the origin unless one is recorded already; returns the one recorded. */
export async function recordEventsTableOrigin(
  runner: SqlRunner,
  options: { schema: string; origin: EventsTableOrigin },
): Promise<EventsTableOrigin> {
  await runner.query(
    `insert into ${quoteIdentifier(options.schema)}.${ORIGIN_TABLE} (origin) values ($1) on conflict do nothing`,
    [options.origin],
  );
  return await readEventsTableOrigin(runner, options) ?? options.origin;
}

/** The recorded origin, or null when none is (the migration recording it has not run). */
export async function readEventsTableOrigin(
  runner: SqlRunner,
  options: { schema: string },
): Promise<EventsTableOrigin | null> {
  const found = await runner.query<{ exists: boolean }>("select to_regclass($1) is not null as exists", [
    `${quoteIdentifier(options.schema)}.${ORIGIN_TABLE}`,
  ]);
  if (!found[0]?.exists) return null;
  const rows = await runner.query<{ origin: EventsTableOrigin }>(
    `select origin from ${quoteIdentifier(options.schema)}.${ORIGIN_TABLE}`,
  );
  return rows[0]?.origin ?? null;
}

/**
 * For a schema migrated before the origin was recorded: "created" when the table looks as the handler makes it (its
 * only INSERT trigger is the handler's and `namespace` is nullable, where the Krateo stack's is NOT NULL), else
 * "adopted".
 */
export async function inferEventsTableOrigin(
  runner: SqlRunner,
  options: { schema: string },
): Promise<EventsTableOrigin> {
  const triggers = await listInsertTriggers(runner, options);
  const columns = await runner.query<{ isNullable: boolean }>(
    `select not a.attnotnull as "isNullable" from pg_attribute a
      where a.attrelid = to_regclass($1) and a.attname = 'namespace' and not a.attisdropped`,
    [`${quoteIdentifier(options.schema)}.${EVENTS_TABLE}`],
  );
  const isOurs = triggers.length === 1 && triggers[0]?.name === NOTIFY_FUNCTION && columns[0]?.isNullable === true;
  return isOurs ? "created" : "adopted";
}
