/**
 * Daily partitions of `k8s_events`: one per UTC day, named `k8s_events_YYYY_MM_DD`, each with a unique index on
 * (global_uid, resource_version) and the other indexes the table's newest partition carries. Created ahead of need
 * and on demand for any day a batch needs, dropped whole by retention.
 *
 * A partition is built as a table of its own and then attached: ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock
 * on `k8s_events`, which uploads in progress (ROW EXCLUSIVE) do not block, where CREATE TABLE ... PARTITION OF would
 * wait behind every one of them for an ACCESS EXCLUSIVE lock while every new writer queued behind it.
 */
import { copyPartitionIndexes, hasRelationNamed, type PartitionIndexCopy } from "./partition_indexes.ts";
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";

export const EVENTS_TABLE = "k8s_events";
const PARTITION_NAME = /^k8s_events_(\d{4})_(\d{2})_(\d{2})$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The UTC day of an instant as `YYYY-MM-DD`. */
export function toUtcDay(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/**
 * The UTC day (`YYYY-MM-DD`) of a row's `createdAt`: RFC 3339 text in UTC, so its first ten characters. The offset
 * was applied when the event's timestamp was parsed (parseTimestamp), so an event sent at `23:30-02:00` is on the
 * next day here, as in PostgreSQL.
 */
export function toTimestampDay(timestamp: string): string {
  return timestamp.slice(0, 10);
}

/** `k8s_events_YYYY_MM_DD` for a `YYYY-MM-DD` day. Throws RangeError for anything else. */
export function toPartitionName(day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new RangeError(`Cannot name a partition: "${day}" is not YYYY-MM-DD`);
  return `${EVENTS_TABLE}_${day.replaceAll("-", "_")}`;
}

/** The `YYYY-MM-DD` day of a partition name, or undefined when the name is not a daily partition of ours. */
export function parsePartitionDay(name: string): string | undefined {
  const match = PARTITION_NAME.exec(name);
  return match ? `${match[1]}-${match[2]}-${match[3]}` : undefined;
}

/** The distinct UTC days of rows' `createdAt` timestamps (see toTimestampDay), sorted. */
export function toPartitionDays(timestamps: Iterable<string>): string[] {
  const days = new Set<string>();
  for (const timestamp of timestamps) days.add(toTimestampDay(timestamp));
  return [...days].sort();
}

/** The first instant PostgreSQL cannot name in a four-digit year, and no daily partition can start at. */
const YEAR_10000_MS = Date.parse("+010000-01-01T00:00:00Z");

/**
 * Inclusive lower and exclusive upper bound of a day's partition, as RFC 3339 UTC. The upper bound of 9999-12-31 is
 * null, written MAXVALUE: the next day would be year 10000, which PostgreSQL does not read in that form.
 */
export function toPartitionBounds(day: string): { from: string; to: string | null } {
  const start = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(start)) throw new RangeError(`Cannot bound a partition: "${day}" is not a date`);
  const end = start + DAY_MS;
  return { from: new Date(start).toISOString(), to: end >= YEAR_10000_MS ? null : new Date(end).toISOString() };
}

/** The `FOR VALUES` clause of a day's partition; built from a validated date, never from request text. */
export function toPartitionBoundSql(day: string): string {
  const { from, to } = toPartitionBounds(day);
  return `for values from ('${from}') to (${to === null ? "maxvalue" : `'${to}'`})`;
}

/** The `YYYY-MM-DD` days from the UTC day of `now` on, `count` of them: the partitions to have ready ahead of need. */
export function toDaysAhead(now: Date, count: number): string[] {
  const todayStart = Date.parse(`${toUtcDay(now)}T00:00:00Z`);
  const days: string[] = [];
  for (let i = 0; i < count; i++) {
    const start = todayStart + i * DAY_MS;
    if (start >= YEAR_10000_MS) break;
    days.push(toUtcDay(new Date(start)));
  }
  return days;
}

/**
 * The partitions (by name) whose whole day is older than `retentionDays` before `now`: with 7 days at
 * 2026-11-25T10:00Z, days up to 2026-11-17 go and 2026-11-18 stays. None when `retentionDays` is 0 (disabled).
 * Names that are not daily partitions are never chosen.
 */
export function selectExpiredPartitions(
  names: readonly string[],
  options: { now: Date; retentionDays: number },
): string[] {
  if (options.retentionDays <= 0) return [];
  const todayStart = Date.parse(`${toUtcDay(options.now)}T00:00:00Z`);
  const cutoffDay = toUtcDay(new Date(todayStart - options.retentionDays * DAY_MS));
  return names.filter((name) => {
    const day = parsePartitionDay(name);
    return day !== undefined && day < cutoffDay;
  }).sort();
}

/** Advisory lock key text that serialises partition DDL within one schema across all replicas. */
function toPartitionLockKey(schema: string): string {
  return `events-ingester partitions ${schema}`;
}

/** Where and how long: the schema of `k8s_events`, the day, and the longest wait for each lock. */
export interface EnsurePartitionOptions {
  /** Schema of `k8s_events`, unquoted. */
  schema: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  /** Longest wait for each lock, in milliseconds; past it the statement fails with SQLSTATE 55P03. */
  lockTimeoutMs: number;
}

/** What creating a partition did: the partition whose indexes were copied (null when there was none). */
export interface PartitionCreation extends PartitionIndexCopy {
  template: string | null;
}

/** The newest daily partition of `k8s_events` other than `except`, or null when there is none. */
export async function findNewestPartition(
  runner: SqlRunner,
  options: { schema: string; except: string },
): Promise<string | null> {
  const days = (await listPartitions(runner, options))
    .filter((name) => name !== options.except && parsePartitionDay(name) !== undefined)
    .sort();
  return days[days.length - 1] ?? null;
}

/**
 * Creates the day's partition unless a table of that name exists, inside the runner's transaction: a table shaped
 * like `k8s_events` (LIKE, with defaults and constraints), the indexes of the newest existing daily partition
 * (`copyPartitionIndexes`), the unique index on (global_uid, resource_version) if those did not include one, then
 * ATTACH PARTITION. Creation is serialised across replicas by a transaction-level advisory lock, and every lock wait
 * is bounded by `lockTimeoutMs` (SQLSTATE 55P03 beyond it). Returns what it did, or null when the partition already
 * existed (it is then used as it is).
 */
export async function ensurePartition(
  runner: SqlRunner,
  options: EnsurePartitionOptions,
): Promise<PartitionCreation | null> {
  const name = toPartitionName(options.day);
  const schema = quoteIdentifier(options.schema);
  const table = `${schema}.${quoteIdentifier(name)}`;
  // Most calls find the partition made ahead of need, by this replica or another: no lock, no DDL.
  if (await hasRelationNamed(runner, { schema: options.schema, name })) return null;
  await runner.query("select set_config('lock_timeout', $1, true)", [
    `${Math.max(1, Math.ceil(options.lockTimeoutMs))}ms`,
  ]);
  await runner.query("select pg_advisory_xact_lock(hashtext($1))", [toPartitionLockKey(options.schema)]);
  if (await hasRelationNamed(runner, { schema: options.schema, name })) return null;
  const template = await findNewestPartition(runner, { schema: options.schema, except: name });
  await runner.query(
    `create table ${table} (like ${schema}.${EVENTS_TABLE}` +
      " including defaults including constraints including generated including storage including compression)",
  );
  const copy = await copyPartitionIndexes(runner, { schema: options.schema, template, partition: name });
  await runner.query(
    `alter table ${schema}.${EVENTS_TABLE} attach partition ${table} ${toPartitionBoundSql(options.day)}`,
  );
  return { template, ...copy };
}

/** Names of the tables attached as partitions of `k8s_events` in the schema, sorted. */
export async function listPartitions(runner: SqlRunner, options: { schema: string }): Promise<string[]> {
  const rows = await runner.query<{ name: string }>(
    `select child.relname as name from pg_inherits i
       join pg_class parent on parent.oid = i.inhparent
       join pg_namespace ns on ns.oid = parent.relnamespace
       join pg_class child on child.oid = i.inhrelid
      where ns.nspname = $1 and parent.relname = $2
      order by 1`,
    [options.schema, EVENTS_TABLE],
  );
  return rows.map((row) => row.name);
}

/**
 * Drops the partitions expired at `now` (see selectExpiredPartitions) under the partition lock, inside the runner's
 * transaction. Returns the dropped names, sorted.
 */
export async function dropPartitionsBefore(
  runner: SqlRunner,
  options: { schema: string; now: Date; retentionDays: number },
): Promise<string[]> {
  if (options.retentionDays <= 0) return [];
  await runner.query("select pg_advisory_xact_lock(hashtext($1))", [toPartitionLockKey(options.schema)]);
  const expired = selectExpiredPartitions(await listPartitions(runner, options), options);
  for (const name of expired) {
    await runner.query(`drop table if exists ${quoteIdentifier(options.schema)}.${quoteIdentifier(name)}`);
  }
  return expired;
}
