import assert from "node:assert/strict";
import { toMinifiedEvent } from "../../../handler/ingest/minify.ts";
import { toEventView } from "../../../shared/contract/event_view.ts";
import type { EventRecord } from "../../../shared/contract/records.ts";

async function fixtureLine(file: string, line: number): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(new URL(`../../fixtures/${file}`, import.meta.url));
  return JSON.parse(text.split("\n")[line - 1] as string);
}

function minify(event: Record<string, unknown>, enrichment?: EventRecord["enrichment"]) {
  const record: EventRecord = { v: 1, kind: "event", cluster: "c", observedAt: "2024-01-01T00:00:00Z", event };
  if (enrichment) record.enrichment = enrichment;
  const view = toEventView(event);
  assert.ok(view);
  return toMinifiedEvent(record, view);
}

Deno.test("toMinifiedEvent keeps what a reader needs of a core/v1 event and drops managedFields and empties", async () => {
  const event = await fixtureLine("core_v1.ndjson", 1);
  assert.deepEqual(minify(event), {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: "px.167c382de9cb6e93",
      namespace: "default",
      uid: "535f12a0-78a9-474c-aa0a-c846844d3d66",
      resourceVersion: "2852440",
      creationTimestamp: "2021-05-05T16:22:15Z",
    },
    involvedObject: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "px",
      namespace: "default",
      uid: "71c42017-61a7-418e-8e2c-897cf237d6e3",
      resourceVersion: "2852437",
    },
    reason: "ScalingReplicaSet",
    message: "Scaled up replica set px-5f87d8856c to 2",
    type: "Normal",
    count: 1,
    firstTimestamp: "2021-05-05T16:22:15Z",
    lastTimestamp: "2021-05-05T16:22:15Z",
    source: { component: "deployment-controller" },
  });
});

Deno.test("toMinifiedEvent renames events.k8s.io fields to their core/v1 names", async () => {
  const event = await fixtureLine("events_v1.ndjson", 1);
  assert.deepEqual(minify(event), {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: "events-logger-586d65786c-fcpln.15d85ffc3af8ce7b",
      namespace: "default",
      uid: "1110e36f-2dad-4832-b216-7cdcc7e4dc5d",
      resourceVersion: "2413",
      creationTimestamp: "2019-11-18T21:46:46Z",
    },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: "events-logger-586d65786c-fcpln",
      namespace: "default",
      uid: "2bf55e16-960e-42ce-9396-342f3d5de91e",
      resourceVersion: "2408",
    },
    reason: "Scheduled",
    message: "Successfully assigned default/events-logger-586d65786c-fcpln to minikube",
    type: "Normal",
    action: "Binding",
    eventTime: "2019-11-18T21:46:46.691762Z",
    reportingComponent: "default-scheduler",
    reportingInstance: "default-scheduler-minikube",
    source: { component: "default-scheduler" },
  });
});

Deno.test("toMinifiedEvent folds enrichment into the involved object", () => {
  const minified = minify(
    {
      metadata: { uid: "u1", resourceVersion: "5", annotations: { noise: "x" } },
      involvedObject: { kind: "Pod", name: "p" },
      lastTimestamp: "2024-03-01T10:00:00Z",
      series: {},
      related: {},
    },
    {
      labels: { app: "web" },
      owners: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: "rs1" },
        "junk" as unknown as never,
      ],
      compositionId: "5e1c1a2b-0000-4000-8000-000000000001",
      error: "FORBIDDEN",
    },
  );
  assert.deepEqual(minified, {
    apiVersion: "v1",
    kind: "Event",
    metadata: { uid: "u1", resourceVersion: "5" },
    involvedObject: {
      kind: "Pod",
      name: "p",
      labels: { app: "web" },
      owners: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: "rs1" }],
      compositionId: "5e1c1a2b-0000-4000-8000-000000000001",
      enrichmentError: "FORBIDDEN",
    },
    lastTimestamp: "2024-03-01T10:00:00Z",
  });
});

Deno.test("toMinifiedEvent keeps the record's replacedVersions at the top level, last, only when sent", () => {
  const event = {
    metadata: { uid: "u1", resourceVersion: "9" },
    involvedObject: { kind: "Pod", name: "p" },
    count: 40,
    lastTimestamp: "2024-03-01T10:00:00Z",
  };
  const record: EventRecord = {
    v: 1,
    kind: "event",
    cluster: "c",
    observedAt: "2024-03-01T10:00:01Z",
    event,
    replacedVersions: 12,
  };
  const minified = toMinifiedEvent(record, toEventView(event)!);
  assert.equal(
    JSON.stringify(minified),
    '{"apiVersion":"v1","kind":"Event","metadata":{"uid":"u1","resourceVersion":"9"},' +
      '"involvedObject":{"kind":"Pod","name":"p"},"count":40,"lastTimestamp":"2024-03-01T10:00:00Z",' +
      '"replacedVersions":12}',
  );
  assert.equal("replacedVersions" in minify(event), false);
});

Deno.test("toMinifiedEvent leaves out empty enrichment", () => {
  const minified = minify(
    { metadata: { uid: "u1", resourceVersion: "5" }, involvedObject: {}, eventTime: "2024-03-01T10:00:00Z" },
    { labels: {}, owners: [], compositionId: null, error: "" },
  );
  assert.deepEqual(minified.involvedObject, {});
});
