/**
 * What the sizing benchmark (`sizing.ts`) reads from PostgreSQL: the sizes of `k8s_events`' partitions and of their
 * indexes, and WAL positions, with a CHECKPOINT to start from.
 */
import type { Sql } from "./bench_database.ts";

/** Flushes earlier WAL so each layout's WAL starts after a checkpoint (full-page images included as in service). */
export async function checkpoint(sql: Sql): Promise<boolean> {
  try {
    await sql.unsafe("checkpoint");
    return true;
  } catch (error) {
    // Needs a superuser or pg_checkpoint; the WAL figure is then taken mid-cycle, which the output says.
    console.error(`sizing: CHECKPOINT refused (${(error as Error).message})`);
    return false;
  }
}

/** The WAL position now, to measure from. */
export async function readWalLsn(sql: Sql): Promise<string> {
  const [row] = await sql.unsafe<{ lsn: string }[]>("select pg_current_wal_lsn()::text as lsn");
  return row?.lsn ?? "0/0";
}

/** WAL bytes written since `lsn`. */
export async function readWalBytesSince(sql: Sql, lsn: string): Promise<number> {
  const [row] = await sql.unsafe<{ bytes: number }[]>(
    "select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8 as bytes",
    [lsn],
  );
  return row?.bytes ?? 0;
}

/** One partition of `k8s_events`: its rows and bytes (heap main fork, free space and visibility maps, TOAST with its
 * index, all indexes, everything). */
export interface PartitionSize {
  name: string;
  rows: number;
  heap: number;
  maps: number;
  toast: number;
  indexes: number;
  total: number;
}

/** Every partition of the schema's `k8s_events`, by name. */
export async function readPartitionSizes(sql: Sql, schema: string): Promise<PartitionSize[]> {
  const rows = await sql.unsafe<PartitionSize[]>(
    `select c.relname as name,
            pg_relation_size(c.oid)::float8 as heap,
            (pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm'))::float8 as maps,
            coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)::float8 as toast,
            pg_indexes_size(c.oid)::float8 as indexes,
            pg_total_relation_size(c.oid)::float8 as total,
            0 as rows
       from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = to_regclass($1)
      order by 1`,
    [`${schema}.k8s_events`],
  );
  const counts = await sql.unsafe<{ name: string; rows: number }[]>(
    `select tableoid::regclass::text as name, count(*)::int as rows from ${schema}.k8s_events group by 1`,
  );
  const byName = new Map(counts.map((row) => [row.name.replace(`${schema}.`, ""), row.rows]));
  return rows.map((row) => ({ ...row, rows: byName.get(row.name) ?? 0 }));
}

/** Index bytes summed over the partitions, by definition (`unique btree (global_uid, resource_version)`). */
export async function readIndexSizes(sql: Sql, schema: string): Promise<Record<string, number>> {
  const rows = await sql.unsafe<{ definition: string; bytes: number }[]>(
    `select case when x.indisunique then 'unique ' else '' end ||
              regexp_replace(pg_get_indexdef(x.indexrelid), '^.* USING ', '') as definition,
            sum(pg_relation_size(x.indexrelid))::float8 as bytes
       from pg_inherits i join pg_index x on x.indrelid = i.inhrelid
      where i.inhparent = to_regclass($1)
      group by 1 order by 1`,
    [`${schema}.k8s_events`],
  );
  return Object.fromEntries(rows.map((row) => [row.definition, row.bytes]));
}
