/**
 * Which columns of `k8s_events` that our rows may leave null the table nevertheless declares NOT NULL: an adopted
 * table (the Krateo stack's) may require `event_type`, `namespace`, ... Rows lacking one are rejected while the
 * request is read (MISSING_FIELD), before they could make the database refuse a statement.
 */
import { isNullableColumn, type NullableColumn } from "../../../shared/contract/event_row.ts";
import { EVENTS_TABLE } from "./partitions.ts";
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";

/**
 * The NOT NULL columns of `k8s_events` in `schema` among those a row may leave null (NULLABLE_COLUMN_SOURCES),
 * sorted; empty when the table does not exist. NOT NULL declared on a partition only, or written as a CHECK, is not
 * seen here: such a row is refused by the database and isolated (ROW_REFUSED).
 */
export async function readRequiredColumns(runner: SqlRunner, options: { schema: string }): Promise<NullableColumn[]> {
  const rows = await runner.query<{ name: string }>(
    `select a.attname as name from pg_attribute a
      where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped and a.attnotnull
      order by 1`,
    [`${quoteIdentifier(options.schema)}.${EVENTS_TABLE}`],
  );
  return rows.map((row) => row.name).filter(isNullableColumn);
}
