/**
 * The two reference figures of `handler_ingest`, measured on the same rows and database: a plain COPY into an
 * identical table without conflict handling or trigger (`copy_limit`), and the Go events-ingester's method
 * (`krateo_strategy`): multi-row INSERT of 100 rows per statement on one connection into the existing stack's table
 * (tests/support/krateo_fixture.ts: seven indexes a partition) with its per-row NOTIFY trigger, with a client listening to the notifications
 * as the handler's runs have one.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "../../handler/store/write/copy_encoding.ts";
import {
  copyRows,
  countNotifications,
  createEventsTable,
  createKrateoTable,
  openSql,
  perSecond,
  type Sql,
} from "./bench_database.ts";

const KRATEO_ROWS_PER_STATEMENT = 100;

/** Events per second of one plain COPY of all rows. */
export async function measureCopyLimit(sql: Sql, rows: readonly EventRow[], days: readonly string[]): Promise<number> {
  await createEventsTable(sql, "bench_copy", days);
  const started = performance.now();
  await copyRows(sql, `"bench_copy".k8s_events`, rows);
  const ms = performance.now() - started;
  await sql.unsafe(`drop schema "bench_copy" cascade`);
  return perSecond(rows.length, ms);
}

/** Events per second of the Krateo method, the rows it stored and the notifications they produced. */
export async function measureKrateo(url: string, sql: Sql, rows: readonly EventRow[], days: readonly string[]) {
  const schema = "bench_krateo";
  await createKrateoTable(sql, schema, days);
  const prefix = rows[0]?.clusterName ?? "";
  const notifications = await countNotifications(url, prefix);
  const one = openSql(url, 1);
  const toStatement = (count: number) => {
    const tuples = Array.from(
      { length: count },
      (_, r) => `(${COPY_COLUMNS.map((_, c) => `$${r * COPY_COLUMNS.length + c + 1}`).join(", ")})`,
    );
    return `insert into bench_krateo.k8s_events (${COPY_COLUMNS.join(", ")}) values ${tuples.join(", ")}`;
  };
  const statement = toStatement(KRATEO_ROWS_PER_STATEMENT);
  const started = performance.now();
  for (let offset = 0; offset < rows.length; offset += KRATEO_ROWS_PER_STATEMENT) {
    const slice = rows.slice(offset, offset + KRATEO_ROWS_PER_STATEMENT);
    const params = slice.flatMap(toParameters);
    const text = slice.length === KRATEO_ROWS_PER_STATEMENT ? statement : toStatement(slice.length);
    await one.unsafe(text, params, { prepare: true });
  }
  const ms = performance.now() - started;
  await one.end();
  const count = await sql.unsafe(`select count(*)::int as n from bench_krateo.k8s_events`);
  await notifications.waitFor(rows.length, 30_000);
  await notifications.close();
  await sql.unsafe(`drop schema bench_krateo cascade`);
  return { eventsPerS: perSecond(rows.length, ms), stored: Number(count[0]?.n), notifications: notifications.count };
}

/** The row's values in COPY_COLUMNS order, as statement parameters. */
function toParameters(row: EventRow): (string | null)[] {
  const values: Record<(typeof COPY_COLUMNS)[number], string | null> = {
    created_at: row.createdAt,
    cluster_name: row.clusterName,
    uid: row.uid,
    global_uid: row.globalUid,
    namespace: row.namespace,
    resource_kind: row.resourceKind,
    resource_name: row.resourceName,
    involved_object_uid: row.involvedObjectUid,
    event_type: row.eventType,
    reason: row.reason,
    message: row.message,
    composition_id: row.compositionId,
    raw: row.raw,
    resource_version: row.resourceVersion,
  };
  return COPY_COLUMNS.map((column) => values[column]);
}
