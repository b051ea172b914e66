/**
 * Which rows `deno task tail` prints. Each field lists accepted values (any one matches); an empty list accepts all.
 * The same filter is sent to the database to narrow catch-up queries, and applied here to every row, so the
 * printed output does not depend on how the row was found.
 */
import type { TailRow } from "./row.ts";

export interface TailFilter {
  clusters: readonly string[];
  namespaces: readonly string[];
  /** Event types (`Normal`, `Warning`), compared exactly as stored. */
  types: readonly string[];
  reasons: readonly string[];
}

/** A filter that accepts every row. */
export const ACCEPT_ALL: TailFilter = { clusters: [], namespaces: [], types: [], reasons: [] };

function accepts(values: readonly string[], value: string | null): boolean {
  return values.length === 0 || (value !== null && values.includes(value));
}

/** True when `row` passes every field of `filter`. */
export function matchesTailFilter(row: TailRow, filter: TailFilter): boolean {
  return accepts(filter.clusters, row.clusterName) && accepts(filter.namespaces, row.namespace) &&
    accepts(filter.types, row.eventType) && accepts(filter.reasons, row.reason);
}
