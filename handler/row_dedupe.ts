/**
 * Removal of repeats within one batch, before anything goes to the database (a relist can send the same event
 * version twice in one batch).
 */
import type { EventRow } from "../shared/event_row.ts";

/** The rows with later repeats of the same (globalUid, resourceVersion) removed, first occurrence kept in order. */
export function dedupeRows(rows: readonly EventRow[]): { rows: EventRow[]; repeats: number } {
  const seen = new Set<string>();
  const unique: EventRow[] = [];
  for (const row of rows) {
    // NUL cannot occur in either part (validation rejects it), so the pair maps to one key.
    const key = `${row.globalUid}\u0000${row.resourceVersion}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(row);
  }
  return { rows: unique, repeats: rows.length - unique.length };
}
