/**
 * The indexes of a new daily partition: the same as the table's newest partition carries, so readers' queries on a
 * day the handler created run as they do on the days another schema owner created (the Krateo stack's job gives each
 * partition a deduplication index and six query indexes). Indexes declared on `k8s_events` itself are left out: they
 * reach the new partition by themselves when it is attached.
 */
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";

/** One index of the template partition, as the catalog describes it. */
export interface IndexTemplate {
  name: string;
  isUnique: boolean;
  /**
   * What follows `ON <table>` in its definition (`USING btree (global_uid, created_at DESC) WHERE ...`), from
   * pg_get_indexdef; null when the definition does not have the expected shape, so it cannot be copied.
   */
  methodAndKeys: string | null;
}

/** What copying did: the names of the new partition's indexes, and the template's indexes that could not be copied. */
export interface PartitionIndexCopy {
  indexes: string[];
  skipped: string[];
}

/**
 * The template's own indexes (not those inherited from an index on `k8s_events`), valid ones only, by name. The
 * prefix pg_get_indexdef writes before the access method is rebuilt here with the same quoting, and what follows it
 * is kept: access method, keys with their order and operator classes, INCLUDE, WITH, WHERE.
 */
export async function readIndexTemplates(
  runner: SqlRunner,
  options: { schema: string; partition: string },
): Promise<IndexTemplate[]> {
  return await runner.query<IndexTemplate & Record<string, unknown>>(
    `select c.relname as "name", i.indisunique as "isUnique",
            case when starts_with(d.definition, d.prefix) then substr(d.definition, length(d.prefix) + 1) end
              as "methodAndKeys"
       from pg_index i
       join pg_class c on c.oid = i.indexrelid
       join pg_class t on t.oid = i.indrelid
       join pg_namespace n on n.oid = t.relnamespace
       cross join lateral (
         select pg_get_indexdef(i.indexrelid) as definition,
                'CREATE ' || case when i.indisunique then 'UNIQUE ' else '' end || 'INDEX ' || quote_ident(c.relname)
                  || ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(t.relname) || ' ' as prefix
       ) d
      where n.nspname = $1 and t.relname = $2 and i.indisvalid
        and not exists (select 1 from pg_inherits h where h.inhrelid = i.indexrelid)
      order by c.relname`,
    [options.schema, options.partition],
  );
}

/**
 * The name of the copy of `indexName` on `partition`: the template partition's name inside the index name replaced
 * by the new one (`uq_k8s_events_2026_12_03_dedup` becomes `uq_k8s_events_2026_12_04_dedup`, the name the Krateo
 * job would give it, so its `CREATE INDEX IF NOT EXISTS` finds it); null when the index name does not contain the
 * template's name, and PostgreSQL then chooses a free one.
 */
export function toIndexCopyName(indexName: string, options: { template: string; partition: string }): string | null {
  return indexName.includes(options.template) ? indexName.replaceAll(options.template, options.partition) : null;
}

/**
 * True when the schema has a table, index or other relation of that name. Read from pg_class with the statement's
 * snapshot rather than through to_regclass: after a wait for a lock, this backend's catalog cache may still hold the
 * "no such relation" it saw before another session created it.
 */
export async function hasRelationNamed(runner: SqlRunner, options: { schema: string; name: string }): Promise<boolean> {
  const rows = await runner.query<{ exists: boolean }>(
    `select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = $1 and c.relname = $2) as exists`,
    [options.schema, options.name],
  );
  return rows[0]?.exists === true;
}

/** True when the table has a unique index on exactly (global_uid, resource_version), in either order, unconditional. */
export async function hasDedupIndex(runner: SqlRunner, options: { schema: string; table: string }): Promise<boolean> {
  const rows = await runner.query<{ exists: boolean }>(
    `select exists (
       select 1 from pg_index i
        where i.indrelid = to_regclass($1) and i.indisunique and i.indpred is null and i.indexprs is null
          and i.indnkeyatts = 2
          and array(select a.attname::text from pg_attribute a
                     where a.attrelid = i.indrelid and a.attnum = any (i.indkey::int2[]) order by 1)
              = array['global_uid', 'resource_version']
     ) as exists`,
    [`${quoteIdentifier(options.schema)}.${quoteIdentifier(options.table)}`],
  );
  return rows[0]?.exists === true;
}

/**
 * Creates on `partition` (a new, empty table in `schema`) a copy of each index of `template` (none when it is null),
 * then the unique index on (global_uid, resource_version) when none of the copies is one: deduplication rests on
 * it. Every identifier is quoted; the rest of each statement comes from the catalog, nothing from a request.
 */
export async function copyPartitionIndexes(
  runner: SqlRunner,
  options: { schema: string; template: string | null; partition: string },
): Promise<PartitionIndexCopy> {
  const { schema, template, partition } = options;
  const table = `${quoteIdentifier(schema)}.${quoteIdentifier(partition)}`;
  const templates = template === null ? [] : (await readIndexTemplates(runner, { schema, partition: template }))
    .map((index) => ({ ...index, copyName: toIndexCopyName(index.name, { template, partition }) }));
  const skipped: string[] = [];
  for (const index of templates) {
    if (index.methodAndKeys === null) {
      skipped.push(index.name);
      continue;
    }
    const isTaken = index.copyName !== null && await hasRelationNamed(runner, { schema, name: index.copyName });
    const name = isTaken ? null : index.copyName;
    await runner.query(
      `create ${index.isUnique ? "unique " : ""}index ${name === null ? "" : quoteIdentifier(name)}` +
        ` on ${table} ${index.methodAndKeys}`,
    );
  }
  if (!await hasDedupIndex(runner, { schema, table: partition })) {
    const name = `${partition}_global_uid_resource_version_key`;
    await runner.query(`create unique index ${quoteIdentifier(name)} on ${table} (global_uid, resource_version)`);
  }
  const rows = await runner.query<{ name: string }>(
    `select c.relname as name from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = to_regclass($1) order by 1`,
    [table],
  );
  return { indexes: rows.map((row) => row.name), skipped };
}
