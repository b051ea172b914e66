/**
 * Daily partitions of `k8s_events`: one per UTC day, named `k8s_events_YYYY_MM_DD`, each with a
 * unique index on (global_uid, resource_version). Created on demand for any day a batch needs, dropped whole by
 * retention.
 */
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

/**
 * Inclusive lower and exclusive upper bound of a day's partition, as RFC 3339 UTC. The day after 9999-12-31 is
 * written `10000-01-01T00:00:00.000Z`: PostgreSQL reads five-digit years, not JavaScript's `+010000` form.
 */
export function toPartitionBounds(day: string): { from: string; to: string } {
  const start = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(start)) throw new RangeError(`Cannot bound a partition: "${day}" is not a date`);
  return { from: toBoundText(start), to: toBoundText(start + DAY_MS) };
}

function toBoundText(ms: number): string {
  return new Date(ms).toISOString().replace(/^\+0*/, "");
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

/**
 * Creates the day's partition and its unique index unless a table of that name exists, inside the runner's
 * transaction and under a transaction-level advisory lock, so concurrent writers creating the same day all succeed.
 * Returns true when it created the partition. A partition that already exists is used as it is.
 */
export async function ensurePartition(runner: SqlRunner, options: { schema: string; day: string }): Promise<boolean> {
  const name = toPartitionName(options.day);
  const schema = quoteIdentifier(options.schema);
  await runner.query("select pg_advisory_xact_lock(hashtext($1))", [toPartitionLockKey(options.schema)]);
  const found = await runner.query<{ exists: boolean }>(
    "select to_regclass($1) is not null as exists",
    [`${schema}.${quoteIdentifier(name)}`],
  );
  if (found[0]?.exists) return false;
  const { from, to } = toPartitionBounds(options.day);
  // The bounds are built from a validated date, never from request text.
  await runner.query(
    `create table ${schema}.${quoteIdentifier(name)} partition of ${schema}.${EVENTS_TABLE}` +
      ` for values from ('${from}') to ('${to}')`,
  );
  await runner.query(
    `create unique index ${quoteIdentifier(`${name}_global_uid_resource_version_key`)}` +
      ` on ${schema}.${quoteIdentifier(name)} (global_uid, resource_version)`,
  );
  return true;
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
