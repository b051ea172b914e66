/**
 * Event records for the sizing benchmark (`sizing.ts`): the real fixture events (tests/fixtures/core_v1.ndjson and
 * events_v1.ndjson), copied as often as needed. Each copy keeps the event's content and gets its own uid and
 * resourceVersion, its timestamps moved to one day (so all land in one day's partition, as in service, with the same
 * text lengths), and the enrichment a relay attaches to a pod's event: four labels, a ReplicaSet and Deployment owner
 * chain, and a composition id on every third.
 */
import { type EventRecord, RECORD_VERSION } from "../../shared/contract/records.ts";

type Json = Record<string, unknown>;

/** The UTC day every stored copy is moved to. */
export const SIZING_DAY = "2026-12-01";
const DATE_IN_TIMESTAMP = /"\d{4}-\d{2}-\d{2}T/g;

/** The real fixture events (tests/fixtures/*.ndjson), managedFields removed as the relay does. */
export async function loadFixtureEvents(): Promise<Json[]> {
  const events: Json[] = [];
  for (const name of ["core_v1.ndjson", "events_v1.ndjson"]) {
    const text = await Deno.readTextFile(new URL(`../fixtures/${name}`, import.meta.url));
    for (const line of text.split("\n").filter((line) => line.trim() !== "")) {
      const event = JSON.parse(line) as Json;
      // The relay strips managedFields before sending.
      delete (event.metadata as Json).managedFields;
      events.push(event);
    }
  }
  return events;
}

/**
 * `count` copies of the fixture events for `cluster`, cycling through them from `offset`: each with its own uid and
 * resourceVersion, its timestamps moved to SIZING_DAY, and a pod's enrichment (see the file comment).
 */
export function makeSizingRecords(
  fixtures: readonly Json[],
  options: { cluster: string; count: number; offset: number },
): EventRecord[] {
  return Array.from({ length: options.count }, (_, i) => {
    const n = options.offset + i;
    // All on one day, as a day's partition fills in service: same times of day, same text lengths.
    const event = JSON.parse(
      JSON.stringify(fixtures[n % fixtures.length]).replace(DATE_IN_TIMESTAMP, `"${SIZING_DAY}T`),
    );
    const metadata = event.metadata as Json;
    metadata.uid = crypto.randomUUID();
    metadata.resourceVersion = String(20_000_000 + n);
    const name = String((event.involvedObject as Json | undefined)?.name ?? "object");
    return {
      v: RECORD_VERSION,
      kind: "event",
      cluster: options.cluster,
      observedAt: "2026-12-01T00:00:00Z",
      event,
      enrichment: {
        labels: {
          "app.kubernetes.io/name": name.slice(0, 40),
          "app.kubernetes.io/instance": `${name.slice(0, 30)}-${n % 17}`,
          "app.kubernetes.io/part-of": "platform",
          "pod-template-hash": "7f9c6d5b8",
        },
        owners: [
          {
            apiVersion: "apps/v1",
            kind: "ReplicaSet",
            name: `${name.slice(0, 40)}-7f9c6d5b8`,
            uid: crypto.randomUUID(),
          },
          { apiVersion: "apps/v1", kind: "Deployment", name: name.slice(0, 40), uid: crypto.randomUUID() },
        ],
        compositionId: n % 3 === 0 ? crypto.randomUUID() : null,
      },
    };
  });
}
