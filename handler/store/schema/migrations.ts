/**
 * Versioned schema migrations for the handler's tables, applied at start under an advisory lock and recorded in
 * `ingester_schema_migrations`, so any number of replicas may start at once: the first applies, the others wait
 * for the lock and find the work done.
 *
 * `k8s_events` may already exist, created by another schema owner (the existing Krateo stack). Then it is used as
 * it is: only missing columns are added, and the NOTIFY trigger only when no trigger of the table notifies channel
 * `events`. Whether the handler created the table or adopted it is recorded (`events_table_origin.ts`).
 */
import { EVENTS_TABLE } from "./partitions.ts";
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";
import type { Logger } from "../../../shared/telemetry/log.ts";
import { hasTriggerNotifying } from "./notify_triggers.ts";
import {
  createOriginTable,
  type EventsTableOrigin,
  inferEventsTableOrigin,
  NOTIFY_FUNCTION,
  readEventsTableOrigin,
  recordEventsTableOrigin,
} from "./events_table_origin.ts";

export const MIGRATIONS_TABLE = "ingester_schema_migrations";
export const CHECKPOINTS_TABLE = "ingester_checkpoints";
export const FENCES_TABLE = "ingester_fences";
export const GAPS_TABLE = "ingester_gaps";
/** Channel every inserted `k8s_events` row is announced on. */
export const NOTIFY_CHANNEL = "events";

/** What a migration knows besides its runner. */
export interface MigrationContext {
  /** Schema of all tables, unquoted. */
  schema: string;
  logger: Logger;
  /** True when `k8s_events` existed before this run of the migrations began. */
  hasEventsTableBefore: boolean;
  /** Versions recorded before this run began. */
  appliedBefore: ReadonlySet<number>;
}

export interface Migration {
  version: number;
  name: string;
  apply(runner: SqlRunner, context: MigrationContext): Promise<void>;
}

/**
 * Indexes the handler declares on a `k8s_events` it created, for the readers' lookups: a row by `event_id`, as each
 * notification is looked up. Declared on the table, so every partition has it, existing ones (built by the
 * migration) and new ones (created when a partition is attached). The newest rows of one `global_uid` are found
 * through each partition's unique index, which leads with `global_uid`.
 */
export const LOOKUP_INDEXES: readonly { name: string; keys: string }[] = [
  { name: "k8s_events_event_id_idx", keys: "(event_id)" },
];

/** Columns of `k8s_events`, with the type each gets when we create or add it. */
export const EVENT_COLUMNS: readonly { name: string; type: string; isRequired: boolean }[] = [
  { name: "created_at", type: "timestamptz", isRequired: true },
  { name: "event_id", type: "uuid default gen_random_uuid()", isRequired: true },
  { name: "cluster_name", type: "text", isRequired: true },
  { name: "uid", type: "text", isRequired: true },
  { name: "global_uid", type: "text", isRequired: true },
  { name: "namespace", type: "text", isRequired: false },
  { name: "resource_kind", type: "text", isRequired: false },
  { name: "resource_name", type: "text", isRequired: false },
  { name: "involved_object_uid", type: "text", isRequired: false },
  { name: "event_type", type: "text", isRequired: false },
  { name: "reason", type: "text", isRequired: false },
  { name: "message", type: "text", isRequired: false },
  { name: "composition_id", type: "uuid", isRequired: false },
  { name: "raw", type: "jsonb", isRequired: true },
  { name: "resource_version", type: "text", isRequired: true },
];

async function createEventsTable(runner: SqlRunner, schema: string): Promise<void> {
  const columns = EVENT_COLUMNS.map((c) => `${c.name} ${c.type}${c.isRequired ? " not null" : ""}`).join(", ");
  await runner.query(`create table ${schema}.${EVENTS_TABLE} (${columns}) partition by range (created_at)`);
}

async function addMissingColumns(runner: SqlRunner, context: MigrationContext): Promise<void> {
  const rows = await runner.query<{ name: string }>(
    `select a.attname as name from pg_attribute a
      where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped`,
    [`${quoteIdentifier(context.schema)}.${EVENTS_TABLE}`],
  );
  const present = new Set(rows.map((row) => row.name));
  for (const column of EVENT_COLUMNS) {
    if (present.has(column.name)) continue;
    // Added nullable (a default where it has one), so the existing rows and readers stay valid.
    await runner.query(
      `alter table ${quoteIdentifier(context.schema)}.${EVENTS_TABLE} add column ${column.name} ${column.type}`,
    );
    context.logger.info("added missing column to existing k8s_events", { column: column.name });
  }
}

/**
 * True when `k8s_events` has a trigger whose function sends notifications on any channel (the existing stack's, or
 * ours). Migration 1 asks this; migration 3 then checks the channel itself.
 */
async function hasNotifyTrigger(runner: SqlRunner, schema: string): Promise<boolean> {
  const rows = await runner.query<{ count: number }>(
    `select count(*)::int as count from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = to_regclass($1) and not t.tgisinternal and p.prosrc ~* 'notify'`,
    [`${quoteIdentifier(schema)}.${EVENTS_TABLE}`],
  );
  return (rows[0]?.count ?? 0) > 0;
}

/**
 * One notification per inserted row, sent by one statement-level trigger per INSERT that reads the inserted rows
 * from its transition table (cheaper than a trigger call per row; rows skipped by ON CONFLICT are not in it).
 */
async function createNotifyTrigger(runner: SqlRunner, schema: string): Promise<void> {
  await runner.query(
    `create or replace function ${schema}.${NOTIFY_FUNCTION}() returns trigger language plpgsql as $fn$
     begin
       perform pg_notify('${NOTIFY_CHANNEL}', json_build_object('event_id', event_id, 'global_uid', global_uid)::text)
          from inserted_rows;
       return null;
     end
     $fn$`,
  );
  await runner.query(
    `create trigger ${NOTIFY_FUNCTION} after insert on ${schema}.${EVENTS_TABLE}
       referencing new table as inserted_rows for each statement execute function ${schema}.${NOTIFY_FUNCTION}()`,
  );
}

/** The migrations in order. A released migration is never edited; changes come as a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "k8s_events table and notifications",
    async apply(runner, context) {
      const schema = quoteIdentifier(context.schema);
      const found = await runner.query<{ exists: boolean }>("select to_regclass($1) is not null as exists", [
        `${schema}.${EVENTS_TABLE}`,
      ]);
      if (found[0]?.exists) {
        context.logger.info("using existing k8s_events table", { schema: context.schema });
        await addMissingColumns(runner, context);
      } else {
        await createEventsTable(runner, schema);
      }
      if (!await hasNotifyTrigger(runner, context.schema)) await createNotifyTrigger(runner, schema);
    },
  },
  {
    version: 2,
    name: "checkpoints, fences and gaps",
    async apply(runner, context) {
      const schema = quoteIdentifier(context.schema);
      await runner.query(
        `create table if not exists ${schema}.${CHECKPOINTS_TABLE} (
           cluster text primary key,
           resume_version text not null,
           updated_at timestamptz not null default now())`,
      );
      await runner.query(
        `create table if not exists ${schema}.${FENCES_TABLE} (
           cluster text primary key,
           holder text not null,
           transitions bigint not null,
           updated_at timestamptz not null default now())`,
      );
      await runner.query(
        `create table if not exists ${schema}.${GAPS_TABLE} (
           id bigint generated always as identity primary key,
           cluster text not null,
           from_version text,
           to_version text not null,
           reason text not null,
           observed_at timestamptz not null,
           recorded_at timestamptz not null default now())`,
      );
      // A replayed batch must not record its gap twice; "from" is null or non-empty, so '' cannot collide.
      await runner.query(
        `create unique index if not exists ${GAPS_TABLE}_identity_key
           on ${schema}.${GAPS_TABLE} (cluster, coalesce(from_version, ''), to_version, reason)`,
      );
    },
  },
  {
    version: 3,
    name: "NOTIFY trigger when no trigger notifies channel events",
    async apply(runner, context) {
      if (await hasTriggerNotifying(runner, { schema: context.schema, channel: NOTIFY_CHANNEL })) return;
      await createNotifyTrigger(runner, quoteIdentifier(context.schema));
      context.logger.info("added NOTIFY trigger: no trigger of k8s_events notifies channel events", {
        trigger: NOTIFY_FUNCTION,
      });
    },
  },
  {
    version: 4,
    name: "record whether the handler created k8s_events",
    async apply(runner, context) {
      await createOriginTable(runner, context);
      const origin: EventsTableOrigin = !context.appliedBefore.has(1)
        ? (context.hasEventsTableBefore ? "adopted" : "created")
        : await inferEventsTableOrigin(runner, context);
      const recorded = await recordEventsTableOrigin(runner, { schema: context.schema, origin });
      context.logger.info("recorded the origin of k8s_events", { origin: recorded });
    },
  },
  {
    version: 5,
    name: "event_id index on a k8s_events the handler created",
    async apply(runner, context) {
      if (await readEventsTableOrigin(runner, context) !== "created") return;
      const schema = quoteIdentifier(context.schema);
      for (const index of LOOKUP_INDEXES) {
        await runner.query(`create index if not exists ${index.name} on ${schema}.${EVENTS_TABLE} ${index.keys}`);
      }
    },
  },
];

/** The version the code needs; the schema is "in place" when this one is recorded. */
export const LATEST_MIGRATION_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** Advisory lock key text that serialises migrations within one schema across all replicas. */
function toMigrationLockKey(schema: string): string {
  return `events-ingester migrate ${schema}`;
}

/**
 * Applies the migrations not yet recorded, in one transaction (the runner's) under a transaction-level advisory
 * lock. Returns the versions it applied (empty when another replica got there first).
 */
export async function applyMigrations(
  runner: SqlRunner,
  options: { schema: string; logger: Logger; migrations?: readonly Migration[] },
): Promise<number[]> {
  const schema = quoteIdentifier(options.schema);
  await runner.query("select pg_advisory_xact_lock(hashtext($1))", [toMigrationLockKey(options.schema)]);
  const namespace = await runner.query<{ exists: boolean }>("select to_regnamespace($1) is not null as exists", [
    schema,
  ]);
  if (!namespace[0]?.exists) await runner.query(`create schema ${schema}`);
  await runner.query(
    `create table if not exists ${schema}.${MIGRATIONS_TABLE} (
       version integer primary key,
       name text not null,
       applied_at timestamptz not null default now())`,
  );
  const rows = await runner.query<{ version: number }>(`select version from ${schema}.${MIGRATIONS_TABLE}`);
  const found = await runner.query<{ exists: boolean }>("select to_regclass($1) is not null as exists", [
    `${schema}.${EVENTS_TABLE}`,
  ]);
  const context: MigrationContext = {
    schema: options.schema,
    logger: options.logger,
    hasEventsTableBefore: found[0]?.exists === true,
    appliedBefore: new Set(rows.map((row) => row.version)),
  };
  const applied: number[] = [];
  for (const migration of options.migrations ?? MIGRATIONS) {
    if (context.appliedBefore.has(migration.version)) continue;
    await migration.apply(runner, context);
    await runner.query(`insert into ${schema}.${MIGRATIONS_TABLE} (version, name) values ($1, $2)`, [
      migration.version,
      migration.name,
    ]);
    options.logger.info("applied migration", { version: migration.version, name: migration.name });
    applied.push(migration.version);
  }
  return applied;
}
