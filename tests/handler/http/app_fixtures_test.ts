import assert from "node:assert/strict";
import { assertStillServes, CLUSTER, eventsRequest, ndjson, storedRows, withApp } from "./app_harness.ts";
import type { EventRecord } from "../../../shared/contract/records.ts";

type Json = Record<string, unknown>;

async function readFixture(name: string): Promise<Json[]> {
  const text = await Deno.readTextFile(new URL(`../../fixtures/${name}`, import.meta.url));
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

function firstText(...values: unknown[]): string | undefined {
  return values.find((v): v is string => typeof v === "string" && v !== "");
}

/** The row each fixture must produce, worked out from the Kubernetes object directly. */
function expectedRow(event: Json): Json {
  const metadata = event.metadata as Json;
  const object = (event.involvedObject ?? event.regarding) as Json;
  const dated = firstText(
    event.eventTime,
    event.lastTimestamp,
    event.deprecatedLastTimestamp,
    event.firstTimestamp,
    event.deprecatedFirstTimestamp,
    metadata.creationTimestamp,
  );
  assert.ok(dated, `fixture ${metadata.uid} has a timestamp`);
  // The fixtures' timestamps are UTC with no fraction or six digits (MicroTime); stored to the microsecond.
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{6})?Z$/.exec(dated);
  assert.ok(match, `fixture ${metadata.uid} timestamp ${dated}`);
  return {
    global_uid: `${CLUSTER}:${metadata.uid}`,
    resource_version: metadata.resourceVersion,
    uid: metadata.uid,
    namespace: firstText(metadata.namespace, object.namespace) ?? null,
    resource_kind: object.apiVersion ? `${object.apiVersion}.${object.kind}` : (object.kind ?? null),
    resource_name: object.name ?? null,
    reason: firstText(event.reason) ?? null,
    message: firstText(event.message, event.note) ?? null,
    created_at: `${match[1]}${match[2] ?? ".000000"}Z`,
  };
}

Deno.test("every real fixture event (core/v1 and events.k8s.io) is accepted, mapped and stored", async () => {
  const events = [...await readFixture("core_v1.ndjson"), ...await readFixture("events_v1.ndjson")];
  assert.equal(events.length, 54);
  await withApp(async (h) => {
    const records: EventRecord[] = events.map((event) => ({
      v: 1,
      kind: "event",
      cluster: CLUSTER,
      observedAt: "2026-11-20T10:00:00Z",
      event: event,
    }));
    const response = await h.app.fetch(await eventsRequest(ndjson(records)));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { accepted: 54, duplicates: 0, rejected: [] });
    const rows = await storedRows(h.sql, h.schema);
    assert.equal(rows.length, 54);
    const createdAt = new Map(
      (await h.sql.unsafe(
        `select global_uid, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
           from "${h.schema}".k8s_events`,
      )).map((row) => [row.global_uid, row.at]),
    );
    const byGlobalUid = new Map(rows.map((row) => [row.global_uid, row]));
    for (const event of events) {
      const expected = expectedRow(event);
      const row = byGlobalUid.get(expected.global_uid as string);
      assert.ok(row, `row of ${expected.global_uid}`);
      const actual = {
        global_uid: row.global_uid,
        resource_version: row.resource_version,
        uid: row.uid,
        namespace: row.namespace,
        resource_kind: row.resource_kind,
        resource_name: row.resource_name,
        reason: row.reason,
        message: row.message,
        created_at: createdAt.get(row.global_uid),
      };
      assert.deepEqual(actual, expected);
      const raw = row.raw as Json;
      assert.equal((raw.metadata as Json).uid, expected.uid);
      assert.equal(raw.kind, "Event");
      assert.equal(JSON.stringify(raw).includes("managedFields"), false);
      assert.equal(JSON.stringify(raw).includes("selfLink"), false);
      assert.equal("regarding" in raw || "note" in raw || "deprecatedSource" in raw, false);
    }
    await assertStillServes(h);
  });
});
