import assert from "node:assert/strict";
import { SeenEvents, toCatchUpStart } from "../../../handler/tail/seen.ts";
import { parseRowKey, type TailRow } from "../../../handler/tail/row.ts";
import { ACCEPT_ALL, matchesTailFilter } from "../../../handler/tail/filter.ts";

const at = (iso: string) => new Date(iso);

Deno.test("SeenEvents tells a printed id from one only known", () => {
  const seen = new SeenEvents({ entriesMax: 10 });
  seen.add("a", at("2026-01-01T00:00:00Z"), { isPrinted: true });
  seen.add("b", at("2026-01-01T00:00:00Z"), { isPrinted: false });
  assert.deepEqual([seen.has("a"), seen.isPrinted("a")], [true, true]);
  assert.deepEqual([seen.has("b"), seen.isPrinted("b")], [true, false]);
  assert.deepEqual([seen.has("c"), seen.isPrinted("c")], [false, false]);
});

Deno.test("SeenEvents forgets ids older than the prune horizon", () => {
  const seen = new SeenEvents({ entriesMax: 10 });
  seen.add("old", at("2026-01-01T00:00:00Z"), { isPrinted: true });
  seen.add("edge", at("2026-01-01T00:10:00Z"), { isPrinted: true });
  seen.add("new", at("2026-01-01T00:20:00Z"), { isPrinted: true });
  seen.prune(at("2026-01-01T00:10:00Z"));
  assert.deepEqual([seen.has("old"), seen.has("edge"), seen.has("new"), seen.size], [false, true, true, 2]);
});

Deno.test("SeenEvents keeps at most entriesMax ids, forgetting the first remembered", () => {
  const seen = new SeenEvents({ entriesMax: 2 });
  for (const id of ["a", "b", "c"]) seen.add(id, at("2026-01-01T00:00:00Z"), { isPrinted: true });
  assert.deepEqual([seen.has("a"), seen.has("b"), seen.has("c"), seen.size], [false, true, true, 2]);
});

Deno.test("SeenEvents refuses an entriesMax below 1", () => {
  assert.throws(
    () => new SeenEvents({ entriesMax: 0 }),
    new RangeError("Cannot keep 0 seen events: entriesMax must be a positive integer"),
  );
});

Deno.test("toCatchUpStart reaches the window back from the loss", () => {
  assert.deepEqual(toCatchUpStart(at("2026-01-01T01:00:00Z"), 600_000), at("2026-01-01T00:50:00Z"));
});

Deno.test("parseRowKey reads the payload PostgreSQL's json_build_object writes", () => {
  const payload = '{"event_id" : "6F1C2A4E-8D7B-4C1E-9F0A-2B3C4D5E6F70", "global_uid" : "prod-a:uid-1"}';
  assert.deepEqual(parseRowKey(payload), {
    eventId: "6f1c2a4e-8d7b-4c1e-9f0a-2b3c4d5e6f70",
    globalUid: "prod-a:uid-1",
  });
});

Deno.test("parseRowKey ignores payloads of other notifiers", () => {
  for (const payload of ["", "hello", "[]", '{"event_id":"not-a-uuid","global_uid":"x"}', '{"event_id":null}']) {
    assert.equal(parseRowKey(payload), undefined, payload);
  }
  assert.equal(parseRowKey('{"event_id":"6f1c2a4e-8d7b-4c1e-9f0a-2b3c4d5e6f70","global_uid":""}'), undefined);
});

const row: TailRow = {
  eventId: "6f1c2a4e-8d7b-4c1e-9f0a-2b3c4d5e6f70",
  globalUid: "prod-a:uid-1",
  createdAt: at("2026-01-01T00:00:00Z"),
  createdAtKey: "2026-01-01 00:00:00+00",
  clusterName: "prod-a",
  namespace: null,
  resourceKind: "v1.Node",
  resourceName: "node-1",
  eventType: "Warning",
  reason: "NodeNotReady",
  message: "Node is not ready",
};

Deno.test("matchesTailFilter accepts any listed value per field and every row when a list is empty", () => {
  assert.equal(matchesTailFilter(row, ACCEPT_ALL), true);
  assert.equal(matchesTailFilter(row, { ...ACCEPT_ALL, clusters: ["prod-b", "prod-a"] }), true);
  assert.equal(matchesTailFilter(row, { ...ACCEPT_ALL, types: ["Normal"] }), false);
  assert.equal(matchesTailFilter(row, { ...ACCEPT_ALL, reasons: ["NodeNotReady"], types: ["Warning"] }), true);
});

Deno.test("matchesTailFilter never matches a namespace filter on a row without namespace", () => {
  assert.equal(matchesTailFilter(row, { ...ACCEPT_ALL, namespaces: ["default"] }), false);
});
