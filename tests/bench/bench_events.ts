/**
 * Realistic event records for the benchmark: the shapes of the real core/v1 fixtures (tests/fixtures/core_v1.ndjson),
 * each copy with a unique uid and resourceVersion, a plausible message and enrichment, about 1 KB of Kubernetes JSON.
 */
import { type EventRecord, RECORD_VERSION } from "../../shared/contract/records.ts";
import type { EventRow } from "../../shared/contract/event_row.ts";
import { toEventRow } from "../../shared/contract/event_row.ts";
import { parseRecordLine } from "../../shared/contract/record_parser.ts";
import { toMinifiedEvent } from "../../handler/ingest/minify.ts";
import { DEFAULT_LIMITS } from "../../shared/contract/limits.ts";

type Json = Record<string, unknown>;

/** The real fixture events, managedFields removed (the relay strips them). */
export async function loadFixtureEvents(): Promise<Json[]> {
  const text = await Deno.readTextFile(new URL("../fixtures/core_v1.ndjson", import.meta.url));
  return text.trim().split("\n").map((line) => {
    const event = JSON.parse(line) as Json;
    delete (event.metadata as Json).managedFields;
    return event;
  });
}

const MESSAGES = [
  'Successfully pulled image "registry.example.com/platform/api-gateway:v2.14.3" in 1.284s (1.284s including waiting). Image size: 48213451 bytes.',
  "Back-off restarting failed container worker in pod batch-worker-7f9c6d5b8-x2k4q_jobs(5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d)",
  "0/12 nodes are available: 3 Insufficient memory, 4 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 5 node(s) didn't match Pod's node affinity/selector. preemption: 0/12 nodes are available: 3 No preemption victims found for incoming pod, 9 Preemption is not helpful for scheduling.",
  'Readiness probe failed: Get "http://10.244.3.17:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
];

/**
 * `count` event records of `cluster`, cycling through the fixture shapes. Each has a unique uid and
 * resourceVersion, timestamps spread over `days` UTC days ending at `end`, labels and an owner chain.
 */
export function makeBenchRecords(
  fixtures: readonly Json[],
  options: { cluster: string; count: number; end: Date; days: number; offset?: number },
): EventRecord[] {
  const records: EventRecord[] = [];
  const spanMs = options.days * 24 * 60 * 60 * 1000;
  for (let i = 0; i < options.count; i++) {
    const n = (options.offset ?? 0) + i;
    const base = fixtures[n % fixtures.length]!;
    const event = structuredClone(base) as Json;
    const metadata = event.metadata as Json;
    const at = new Date(options.end.getTime() - Math.floor((n * 7919) % spanMs / 1000) * 1000)
      .toISOString().replace(/\.\d{3}Z$/, "Z");
    const uid = crypto.randomUUID();
    metadata.uid = uid;
    metadata.resourceVersion = String(10_000_000 + n);
    metadata.name = `${String((event.involvedObject as Json | undefined)?.name ?? "object")}.${n.toString(16)}`;
    metadata.creationTimestamp = at;
    if (event.eventTime) event.eventTime = at.replace("Z", ".000000Z");
    event.firstTimestamp = at;
    event.lastTimestamp = at;
    event.message = `${MESSAGES[n % MESSAGES.length]} (#${n})`;
    records.push({
      v: RECORD_VERSION,
      kind: "event",
      cluster: options.cluster,
      observedAt: at,
      event,
      enrichment: {
        labels: {
          "app.kubernetes.io/name": "api-gateway",
          "app.kubernetes.io/instance": `gateway-${n % 17}`,
          "app.kubernetes.io/part-of": "platform",
          "pod-template-hash": "7f9c6d5b8",
        },
        owners: [
          { apiVersion: "apps/v1", kind: "ReplicaSet", name: "api-gateway-7f9c6d5b8", uid: crypto.randomUUID() },
          { apiVersion: "apps/v1", kind: "Deployment", name: "api-gateway", uid: crypto.randomUUID() },
        ],
        compositionId: n % 3 === 0 ? crypto.randomUUID() : null,
      },
    });
  }
  return records;
}

/** The rows the handler stores for these records: parsed, minified and mapped exactly as it does. */
export function toBenchRows(records: readonly EventRecord[]): EventRow[] {
  return records.map((record, i) => {
    const parsed = parseRecordLine(JSON.stringify(record), i + 1, { jsonDepthMax: DEFAULT_LIMITS.jsonDepthMax });
    if (!parsed.ok || parsed.view === undefined) throw new Error(`Cannot build bench row ${i + 1}: it is invalid`);
    const raw = JSON.stringify(toMinifiedEvent(parsed.record, parsed.view));
    return toEventRow(parsed.record, parsed.view, raw);
  });
}
