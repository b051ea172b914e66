import assert from "node:assert/strict";
import { EventStore } from "../../../../relay/simulator/stores/event_store.ts";
import type { CoreV1Event } from "../../../../relay/simulator/stores/kube_types.ts";
import { KubeApiError } from "../../../../relay/simulator/routes/kube_status.ts";
import { RevisionCounter } from "../../../../relay/simulator/stores/revision_counter.ts";

function setup(options: { watchWindowSize?: number; eventTtlMs?: number } = {}) {
  let nowMs = Date.parse("2026-01-01T00:00:00Z");
  const counter = new RevisionCounter(100);
  const store = new EventStore({
    counter,
    watchWindowSize: options.watchWindowSize ?? 100,
    eventTtlMs: options.eventTtlMs ?? 60_000,
    now: () => nowMs,
  });
  return { store, counter, advance: (ms: number) => nowMs += ms };
}

function event(namespace: string, name: string, uid = `uid-${namespace}-${name}`): CoreV1Event {
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { namespace, name, uid },
    involvedObject: { kind: "Pod" },
    count: 1,
  };
}

const names = (items: string[]) => items.map((json) => JSON.parse(json).metadata.name);

Deno.test("EventStore gives each write the next cluster revision", () => {
  const { store } = setup();
  assert.equal(store.create(event("a", "x")).metadata.resourceVersion, "101");
  assert.equal(store.update("a", "x", (e) => e.count = 2).metadata.resourceVersion, "102");
  assert.deepEqual(store.emittedVersions(), [
    { uid: "uid-a-x", resourceVersion: "101" },
    { uid: "uid-a-x", resourceVersion: "102" },
  ]);
});

Deno.test("EventStore.create refuses a taken name with 409 AlreadyExists", () => {
  const { store } = setup();
  store.create(event("a", "x"));
  assert.throws(() => store.create(event("a", "x")), (error: unknown) => {
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.code, 409);
    assert.equal(error.reason, "AlreadyExists");
    assert.equal(error.message, 'events "x" already exists');
    return true;
  });
});

Deno.test("EventStore.list pages in namespace/name order and filters by namespace", () => {
  const { store, counter } = setup();
  for (const [ns, name] of [["b", "2"], ["a", "2"], ["b", "1"], ["a", "1"], ["a-b", "1"]]) {
    store.create(event(ns!, name!));
  }
  const first = store.list({ resourceVersion: counter.current, limit: 2 });
  assert.deepEqual(names(first.items), ["1", "1"]);
  assert.equal(first.continueKey, "a/1");
  const second = store.list({ resourceVersion: counter.current, limit: 2, afterKey: first.continueKey });
  assert.deepEqual(names(second.items), ["2", "1"]);
  assert.equal(second.continueKey, "b/1");
  const third = store.list({ resourceVersion: counter.current, limit: 2, afterKey: second.continueKey });
  assert.deepEqual(names(third.items), ["2"]);
  assert.equal(third.continueKey, undefined);
  assert.deepEqual(names(store.list({ resourceVersion: counter.current, namespace: "a" }).items), ["1", "2"]);
});

Deno.test("EventStore.list reads the snapshot at its resourceVersion, not later writes", () => {
  const { store, counter } = setup();
  store.create(event("a", "1"));
  store.create(event("a", "2"));
  const snapshot = counter.current;
  store.update("a", "2", (e) => e.count = 7);
  store.delete("a", "1");
  store.create(event("a", "3"));
  const items = store.list({ resourceVersion: snapshot }).items.map((json) => JSON.parse(json));
  assert.deepEqual(items.map((e) => [e.metadata.name, e.metadata.resourceVersion, e.count]), [
    ["1", "101", 1],
    ["2", "102", 1],
  ]);
  assert.deepEqual(names(store.list({ resourceVersion: counter.current }).items), ["2", "3"]);
});

Deno.test("EventStore.changesAfter reads the window and reports a version before its floor as expired", () => {
  const { store } = setup({ watchWindowSize: 3 });
  for (const name of ["1", "2", "3", "4", "5"]) store.create(event("a", name));
  assert.equal(store.floor, 102);
  assert.deepEqual(store.changesAfter(101, { max: 10 }), { isExpired: true, floor: 102 });
  const after = store.changesAfter(102, { max: 10 });
  assert.equal(after.isExpired, false);
  if (!after.isExpired) {
    assert.deepEqual(after.changes.map((c) => [c.type, c.resourceVersion]), [["ADDED", 103], ["ADDED", 104], [
      "ADDED",
      105,
    ]]);
    assert.equal(after.lastResourceVersion, 105);
  }
});

Deno.test("EventStore.list of a version before the floor answers 410 Expired", () => {
  const { store } = setup();
  store.create(event("a", "1"));
  store.create(event("a", "2"));
  store.expireWindow();
  assert.throws(() => store.list({ resourceVersion: 101 }), (error: unknown) => {
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.code, 410);
    assert.equal(error.reason, "Expired");
    return true;
  });
  assert.deepEqual(names(store.list({ resourceVersion: 102 }).items), ["1", "2"]);
});

Deno.test("EventStore.expire deletes events whose TTL ran out since their last write", () => {
  const { store, advance } = setup({ eventTtlMs: 1_000 });
  store.create(event("a", "old"));
  advance(600);
  store.create(event("a", "young"));
  advance(300);
  store.update("a", "old", (e) => e.count = 2);
  advance(800);
  assert.equal(store.expire(), 1);
  assert.equal(store.get("a", "young"), undefined);
  assert.equal(store.get("a", "old")?.count, 2);
  const changes = store.changesAfter(103, { max: 10 });
  assert.ok(!changes.isExpired);
  assert.deepEqual(
    changes.changes.map((c) => [c.type, c.resourceVersion, JSON.parse(c.json).metadata.resourceVersion]),
    [
      ["DELETED", 104, "104"],
    ],
  );
  advance(200);
  assert.equal(store.expire(), 1);
  assert.equal(store.get("a", "old"), undefined);
});

Deno.test("EventStore forgets old versions and deleted keys once the floor passes them", () => {
  const { store, counter } = setup({ watchWindowSize: 2 });
  store.create(event("a", "gone"));
  store.delete("a", "gone");
  for (let i = 0; i < 4; i++) store.create(event("a", `n${i}`));
  store.expireWindow();
  assert.deepEqual(names(store.list({ resourceVersion: counter.current }).items), ["n0", "n1", "n2", "n3"]);
  store.create(event("a", "gone"));
  assert.deepEqual(names(store.list({ resourceVersion: counter.current }).items), ["gone", "n0", "n1", "n2", "n3"]);
});
