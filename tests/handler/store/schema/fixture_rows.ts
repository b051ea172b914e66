/**
 * The rows the handler stores for the real fixture events (tests/fixtures/core_v1.ndjson and events_v1.ndjson):
 * parsed, minified and mapped as the handler does it. Both files hold 54 events on 17 UTC days.
 */
import type { EventRow } from "../../../../shared/contract/event_row.ts";
import { toEventRow } from "../../../../shared/contract/event_row.ts";
import type { EventRecord } from "../../../../shared/contract/records.ts";
import { parseRecordLine } from "../../../../shared/contract/record_parser.ts";
import { DEFAULT_LIMITS } from "../../../../shared/contract/limits.ts";
import { toMinifiedEvent } from "../../../../handler/ingest/minify.ts";

const FIXTURE_FILES = ["core_v1.ndjson", "events_v1.ndjson"];

/** The fixture events as records of `cluster`, in file order. */
export async function fixtureEventRecords(cluster: string): Promise<EventRecord[]> {
  const records: EventRecord[] = [];
  for (const name of FIXTURE_FILES) {
    const text = await Deno.readTextFile(new URL(`../../../fixtures/${name}`, import.meta.url));
    for (const line of text.split("\n").filter((line) => line.trim() !== "")) {
      records.push({ v: 1, kind: "event", cluster, observedAt: "2026-11-20T10:00:00Z", event: JSON.parse(line) });
    }
  }
  return records;
}

/** The row the handler stores for one record. Throws when the record is not valid. */
export function toStoredRow(record: EventRecord): EventRow {
  const parsed = parseRecordLine(JSON.stringify(record), 1, { jsonDepthMax: DEFAULT_LIMITS.jsonDepthMax });
  if (!parsed.ok || parsed.view === undefined) {
    throw new Error(`Cannot map the fixture event ${JSON.stringify(record.event.metadata)}: it is not valid`);
  }
  return toEventRow(parsed.record, parsed.view, JSON.stringify(toMinifiedEvent(parsed.record, parsed.view)));
}

/** The rows of every fixture event of `cluster`. */
export async function fixtureEventRows(cluster: string): Promise<EventRow[]> {
  return (await fixtureEventRecords(cluster)).map(toStoredRow);
}
