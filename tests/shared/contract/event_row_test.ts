import assert from "node:assert/strict";
import { isUuid, toEventRow, toGlobalUid, toResourceKind } from "../../../shared/contract/event_row.ts";
import { toEventInstant, toEventView } from "../../../shared/contract/event_view.ts";
import { parseRecordLine } from "../../../shared/contract/record_parser.ts";
import type { EventRecord } from "../../../shared/contract/records.ts";

const fixtures = [
  ...Deno.readTextFileSync(new URL("../../fixtures/core_v1.ndjson", import.meta.url)).split("\n"),
  ...Deno.readTextFileSync(new URL("../../fixtures/events_v1.ndjson", import.meta.url)).split("\n"),
].filter((line) => line !== "");

function record(event: Record<string, unknown>, enrichment?: EventRecord["enrichment"]): EventRecord {
  return { v: 1, kind: "event", cluster: "prod", observedAt: "2026-11-25T10:00:00Z", event, enrichment };
}

Deno.test("toResourceKind joins apiVersion and Kind, and keeps the Kind alone without apiVersion", () => {
  assert.equal(toResourceKind("v1", "Pod"), "v1.Pod");
  assert.equal(toResourceKind("apps/v1", "Deployment"), "apps/v1.Deployment");
  assert.equal(toResourceKind(undefined, "Pod"), "Pod");
  assert.equal(toResourceKind("v1", undefined), null);
});

Deno.test("toGlobalUid is cluster and uid joined by a colon", () => {
  assert.equal(toGlobalUid("prod", "1234"), "prod:1234");
});

Deno.test("isUuid accepts only the textual UUID form", () => {
  assert.deepEqual(
    ["3f1a0c6e-52b4-4f3e-9d1c-1a2b3c4d5e6f", "3F1A0C6E-52B4-4F3E-9D1C-1A2B3C4D5E6F", "not-a-uuid", "", 5].map(isUuid),
    [true, true, false, false, false],
  );
});

Deno.test("toEventInstant prefers eventTime, then lastTimestamp, firstTimestamp, creationTimestamp", () => {
  const base = { metadata: { uid: "u", resourceVersion: "1", creationTimestamp: "2026-01-04T00:00:00Z" } };
  const instant = (extra: Record<string, unknown>) => toEventInstant(toEventView({ ...base, ...extra })!);
  assert.equal(instant({}), "2026-01-04T00:00:00.000000Z");
  assert.equal(instant({ firstTimestamp: "2026-01-03T00:00:00Z" }), "2026-01-03T00:00:00.000000Z");
  assert.equal(
    instant({ firstTimestamp: "2026-01-03T00:00:00Z", lastTimestamp: "2026-01-02T00:00:00Z" }),
    "2026-01-02T00:00:00.000000Z",
  );
  assert.equal(
    instant({ eventTime: "2026-01-01T00:00:00.123456Z", lastTimestamp: "2026-01-02T00:00:00Z" }),
    "2026-01-01T00:00:00.123456Z",
  );
});

Deno.test("toEventRow maps a core/v1 event to the k8s_events columns", () => {
  const event = JSON.parse(fixtures[0]!);
  const view = toEventView(event)!;
  const row = toEventRow(
    record(event, { compositionId: "3F1A0C6E-52B4-4F3E-9D1C-1A2B3C4D5E6F" }),
    view,
    "{}",
  );
  assert.deepEqual(row, {
    createdAt: "2021-05-05T16:22:15.000000Z",
    clusterName: "prod",
    uid: "535f12a0-78a9-474c-aa0a-c846844d3d66",
    globalUid: "prod:535f12a0-78a9-474c-aa0a-c846844d3d66",
    namespace: "default",
    resourceKind: "apps/v1.Deployment",
    resourceName: "px",
    involvedObjectUid: "71c42017-61a7-418e-8e2c-897cf237d6e3",
    eventType: "Normal",
    reason: "ScalingReplicaSet",
    message: "Scaled up replica set px-5f87d8856c to 2",
    compositionId: "3f1a0c6e-52b4-4f3e-9d1c-1a2b3c4d5e6f",
    raw: "{}",
    resourceVersion: "2852440",
  });
});

Deno.test("toEventRow reads the events.k8s.io shape through regarding and note", () => {
  const event = JSON.parse(fixtures.find((line) => line.includes('"regarding"'))!);
  const row = toEventRow(record(event), toEventView(event)!, "{}");
  assert.equal(row.resourceKind, `${event.regarding.apiVersion}.${event.regarding.kind}`);
  assert.equal(row.message, event.note);
  assert.equal(row.involvedObjectUid, event.regarding.uid);
});

Deno.test("toEventRow drops a composition id that is not a UUID", () => {
  const event = JSON.parse(fixtures[0]!);
  assert.equal(toEventRow(record(event, { compositionId: "abc" }), toEventView(event)!, "{}").compositionId, null);
});

Deno.test("every real fixture event is accepted by parseRecordLine and mapped to a row", () => {
  assert.equal(fixtures.length, 54);
  for (const [index, line] of fixtures.entries()) {
    const event = JSON.parse(line);
    const text = JSON.stringify(record(event));
    const parsed = parseRecordLine(text, index + 1, { jsonDepthMax: 32 });
    assert.equal(parsed.ok, true, `fixture ${index + 1}: ${JSON.stringify(parsed)}`);
    if (!parsed.ok || parsed.view === undefined) continue;
    const row = toEventRow(parsed.record as EventRecord, parsed.view, "{}");
    assert.equal(row.uid, event.metadata.uid);
    assert.equal(row.resourceVersion, event.metadata.resourceVersion);
    assert.ok(Date.parse(row.createdAt) > Date.UTC(2015, 0, 1), `fixture ${index + 1} dated ${row.createdAt}`);
  }
});
