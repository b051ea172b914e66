/**
 * Removal of repeats within one batch, before anything goes to the database (a relist can send the same event
 * version twice in one batch).
 */
import type { EventRow } from "../../shared/contract/event_row.ts";

/** Removes repeats of the same (globalUid, resourceVersion) across all the chunks of one batch as they arrive. */
export class RowDeduper {
  /** resourceVersions seen per globalUid: one string for the common single version, a set once there are more. */
  #seen = new Map<string, string | Set<string>>();
  /** Rows dropped so far because an earlier row of the batch had the same key. */
  repeats = 0;

  /** The rows of `rows` not seen before in this batch, first occurrence kept, in order. */
  add(rows: readonly EventRow[]): EventRow[] {
    const unique: EventRow[] = [];
    for (const row of rows) {
      const { globalUid, resourceVersion } = row;
      // Keyed by the strings the row already holds: building a joined key per row cost more than the lookups.
      const seen = this.#seen.get(globalUid);
      if (seen === undefined) {
        this.#seen.set(globalUid, resourceVersion);
      } else if (typeof seen === "string") {
        if (seen === resourceVersion) {
          this.repeats++;
          continue;
        }
        this.#seen.set(globalUid, new Set([seen, resourceVersion]));
      } else {
        if (seen.has(resourceVersion)) {
          this.repeats++;
          continue;
        }
        seen.add(resourceVersion);
      }
      unique.push(row);
    }
    return unique;
  }
}

/** The rows with later repeats of the same (globalUid, resourceVersion) removed, first occurrence kept in order. */
export function dedupeRows(rows: readonly EventRow[]): { rows: EventRow[]; repeats: number } {
  const deduper = new RowDeduper();
  const unique = deduper.add(rows);
  return { rows: unique, repeats: deduper.repeats };
}
