import assert from "node:assert/strict";
import { createWatchStream, INITIAL_EVENTS_END_ANNOTATION } from "../../../../relay/simulator/routes/watch_stream.ts";
import { Controls } from "../../../../relay/simulator/controls.ts";
import { EventStore } from "../../../../relay/simulator/stores/event_store.ts";
import { RevisionCounter } from "../../../../relay/simulator/stores/revision_counter.ts";
import { type Simulator, type SimulatorOptions } from "../../../../relay/simulator/simulator.ts";
import { recordWatch, withSimulator as withSupportSimulator } from "../kube_client_support.ts";

function withSimulator(options: SimulatorOptions, fn: (simulator: Simulator) => Promise<void>): Promise<void> {
  return withSupportSimulator(fn, options);
}

const podEvent = (simulator: Simulator, namespace: string, name: string) =>
  simulator.createEvent({ metadata: { name, namespace }, involvedObject: { kind: "Pod", name: "p", namespace } });

const summary = (events: { type: string; object: { metadata?: { name?: string; resourceVersion?: string } } }[]) =>
  events.map((e) => `${e.type} ${e.object.metadata?.name ?? ""}@${e.object.metadata?.resourceVersion}`);

Deno.test("Watch delivers ADDED, MODIFIED and DELETED in order, DELETED with the deletion's resourceVersion", async () => {
  await withSimulator({}, async (simulator) => {
    const start = simulator.resourceVersion;
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: start });
    const created = podEvent(simulator, "a", "e1");
    const modified = simulator.updateEvent("a", "e1", (e) => e.count = 2);
    simulator.deleteEvent("a", "e1");
    await watch.waitForCount(3);
    const rv = Number(created.metadata.resourceVersion);
    assert.deepEqual(summary(watch.events), [`ADDED e1@${rv}`, `MODIFIED e1@${rv + 1}`, `DELETED e1@${rv + 2}`]);
    assert.equal(watch.events[1]!.object.count, 2);
    assert.equal(modified.metadata.resourceVersion, String(rv + 1));
    watch.abort();
  });
});

Deno.test("Watch resumes after the given resourceVersion", async () => {
  await withSimulator({}, async (simulator) => {
    const first = podEvent(simulator, "a", "e1");
    podEvent(simulator, "a", "e2");
    podEvent(simulator, "b", "e3");
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: first.metadata.resourceVersion! });
    await watch.waitForCount(2);
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`), ["ADDED e2", "ADDED e3"]);
    watch.abort();
  });
});

Deno.test("Watch of one namespace sees only that namespace's events", async () => {
  await withSimulator({}, async (simulator) => {
    const watch = await recordWatch(simulator, "/api/v1/namespaces/b/events", {
      resourceVersion: simulator.resourceVersion,
    });
    podEvent(simulator, "a", "e1");
    podEvent(simulator, "b", "e2");
    podEvent(simulator, "a", "e3");
    podEvent(simulator, "b", "e4");
    await watch.waitForCount(2);
    assert.deepEqual(watch.events.map((e) => e.object.metadata?.name), ["e2", "e4"]);
    watch.abort();
  });
});

Deno.test("Watch without a resourceVersion starts with an ADDED for every live event", async () => {
  await withSimulator({}, async (simulator) => {
    podEvent(simulator, "b", "e2");
    podEvent(simulator, "a", "e1");
    const watch = await recordWatch(simulator, "/api/v1/events", {});
    await watch.waitForCount(2);
    podEvent(simulator, "a", "e3");
    await watch.waitForCount(3);
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`), [
      "ADDED e1",
      "ADDED e2",
      "ADDED e3",
    ]);
    watch.abort();
  });
});

Deno.test("Watch with sendInitialEvents ends the initial events with an annotated BOOKMARK", async () => {
  await withSimulator({}, async (simulator) => {
    podEvent(simulator, "a", "e1");
    const watch = await recordWatch(simulator, "/api/v1/events", {
      sendInitialEvents: true,
      resourceVersionMatch: "NotOlderThan",
      allowWatchBookmarks: true,
    });
    await watch.waitForCount(2);
    assert.deepEqual(watch.events.map((e) => e.type), ["ADDED", "BOOKMARK"]);
    assert.equal(watch.events[1]!.object.metadata?.resourceVersion, simulator.resourceVersion);
    assert.deepEqual(watch.events[1]!.object.metadata?.annotations, { [INITIAL_EVENTS_END_ANNOTATION]: "true" });
    watch.abort();
  });
});

Deno.test("Watch with allowWatchBookmarks gets a BOOKMARK at the current resourceVersion when idle", async () => {
  await withSimulator({ bookmarkIntervalMs: 50 }, async (simulator) => {
    podEvent(simulator, "a", "e1");
    const watch = await recordWatch(simulator, "/api/v1/events", {
      resourceVersion: simulator.resourceVersion,
      allowWatchBookmarks: true,
    });
    await watch.waitForCount(1);
    assert.equal(watch.events[0]!.type, "BOOKMARK");
    assert.equal(watch.events[0]!.object.kind, "Event");
    assert.equal(watch.events[0]!.object.metadata?.resourceVersion, simulator.resourceVersion);
    watch.abort();
  });
});

Deno.test("Watch without allowWatchBookmarks gets no BOOKMARK", async () => {
  await withSimulator({ bookmarkIntervalMs: 20 }, async (simulator) => {
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    await new Promise((resolve) => setTimeout(resolve, 150));
    podEvent(simulator, "a", "e1");
    await watch.waitForCount(1);
    assert.deepEqual(watch.events.map((e) => e.type), ["ADDED"]);
    watch.abort();
  });
});

Deno.test("Watch ends cleanly after timeoutSeconds, with a last BOOKMARK", async () => {
  await withSimulator({ bookmarkIntervalMs: 60_000 }, async (simulator) => {
    const startedAt = performance.now();
    const watch = await recordWatch(simulator, "/api/v1/events", {
      resourceVersion: simulator.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    assert.equal(await watch.done, null);
    const elapsedMs = performance.now() - startedAt;
    assert.ok(elapsedMs >= 950 && elapsedMs < 3_000, `ended after ${elapsedMs} ms`);
    assert.deepEqual(watch.events.map((e) => e.type), ["BOOKMARK"]);
  });
});

Deno.test("Watch from before the window gets an ERROR event with code 410 by default", async () => {
  await withSimulator({}, async (simulator) => {
    const old = podEvent(simulator, "a", "e1");
    podEvent(simulator, "a", "e2");
    simulator.expireWatchWindow();
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: old.metadata.resourceVersion! });
    assert.equal(await watch.done, null);
    assert.equal(watch.events.length, 1);
    assert.equal(watch.events[0]!.type, "ERROR");
    assert.deepEqual(
      {
        code: watch.events[0]!.object.code,
        reason: watch.events[0]!.object.reason,
        kind: watch.events[0]!.object.kind,
      },
      { code: 410, reason: "Expired", kind: "Status" },
    );
    assert.equal(
      watch.events[0]!.object.message,
      `too old resource version: ${old.metadata.resourceVersion} (${simulator.resourceVersion})`,
    );
  });
});

Deno.test("Watch from before the window fails with HTTP 410 when watchGoneAnswer is status", async () => {
  await withSimulator({ watchGoneAnswer: "status" }, async (simulator) => {
    const old = podEvent(simulator, "a", "e1");
    podEvent(simulator, "a", "e2");
    simulator.expireWatchWindow();
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: old.metadata.resourceVersion! });
    const error = await watch.done as { statusCode?: number; message?: string };
    assert.equal(error.statusCode, 410);
    assert.equal(error.message, "Gone");
    assert.equal(watch.events.length, 0);
  });
});

Deno.test("Watch may resume from the current resourceVersion after expireWatchWindow", async () => {
  await withSimulator({}, async (simulator) => {
    podEvent(simulator, "a", "e1");
    simulator.expireWatchWindow();
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    podEvent(simulator, "a", "e2");
    await watch.waitForCount(1);
    assert.deepEqual(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`), ["ADDED e2"]);
    watch.abort();
  });
});

Deno.test("Watch window holds watchWindowSize changes: resuming from its floor works, from before answers 410", async () => {
  await withSimulator({ watchWindowSize: 3 }, async (simulator) => {
    const versions = ["e1", "e2", "e3", "e4", "e5"].map((name) =>
      podEvent(simulator, "a", name).metadata.resourceVersion!
    );
    const atFloor = await recordWatch(simulator, "/api/v1/events", { resourceVersion: versions[1]! });
    await atFloor.waitForCount(3);
    assert.deepEqual(atFloor.events.map((e) => e.object.metadata?.name), ["e3", "e4", "e5"]);
    atFloor.abort();
    const beforeFloor = await recordWatch(simulator, "/api/v1/events", { resourceVersion: versions[0]! });
    assert.equal(await beforeFloor.done, null);
    assert.deepEqual(beforeFloor.events.map((e) => [e.type, e.object.code]), [["ERROR", 410]]);
  });
});

Deno.test("closeWatches ends open watches cleanly and later watches work", async () => {
  await withSimulator({}, async (simulator) => {
    const first = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    const second = await recordWatch(simulator, "/api/v1/namespaces/a/events", {
      resourceVersion: simulator.resourceVersion,
    });
    simulator.closeWatches();
    assert.equal(await first.done, null);
    assert.equal(await second.done, null);
    const third = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    podEvent(simulator, "a", "e1");
    await third.waitForCount(1);
    assert.deepEqual(third.events.map((e) => e.object.metadata?.name), ["e1"]);
    third.abort();
  });
});

Deno.test("stallWatches holds events back until the stall ends", async () => {
  await withSimulator({}, async (simulator) => {
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    simulator.stallWatches(300);
    const stalledAt = performance.now();
    podEvent(simulator, "a", "e1");
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(watch.events.length, 0);
    await watch.waitForCount(1);
    const elapsedMs = performance.now() - stalledAt;
    assert.ok(elapsedMs >= 290, `arrived after ${elapsedMs} ms`);
    assert.deepEqual(watch.events.map((e) => e.object.metadata?.name), ["e1"]);
    watch.abort();
  });
});

Deno.test("createWatchStream sends ERROR 410 and ends when its reader falls out of the window", async () => {
  const counter = new RevisionCounter(10);
  const store = new EventStore({ counter, watchWindowSize: 2, eventTtlMs: 60_000, now: Date.now });
  const controller = new AbortController();
  const stream = createWatchStream({
    store,
    controls: new Controls(),
    counter,
    resourceVersion: 10,
    isInitialEventsRequested: false,
    isBookmarkAllowed: false,
    bookmarkIntervalMs: 1_000,
    timeoutMs: 10_000,
    signal: controller.signal,
  });
  for (let i = 0; i < 3; i++) {
    store.create({ apiVersion: "v1", kind: "Event", metadata: { namespace: "a", name: `e${i}` }, involvedObject: {} });
  }
  const text = await new Response(stream).text();
  const lines = text.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((l) => [l.type, l.object.code, l.object.message]), [
    ["ERROR", 410, "too old resource version: 10 (11)"],
  ]);
});

Deno.test("Watch sees DELETED when an event's TTL runs out on the simulator's clock", async () => {
  let nowMs = Date.parse("2026-03-01T12:00:00Z");
  await withSimulator({ eventTtlMs: 60_000, now: () => nowMs }, async (simulator) => {
    const event = podEvent(simulator, "a", "e1");
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    nowMs += 60_000;
    const list = await (await fetch(`${simulator.url}/api/v1/events`)).json();
    assert.deepEqual(list.items, []);
    await watch.waitForCount(1);
    assert.deepEqual(summary(watch.events), [`DELETED e1@${Number(event.metadata.resourceVersion) + 1}`]);
    assert.deepEqual(simulator.emittedVersions(), [{
      uid: event.metadata.uid,
      resourceVersion: event.metadata.resourceVersion,
    }]);
    watch.abort();
  });
});

Deno.test("createWatchStream's closing BOOKMARK never claims versions it has not sent", async () => {
  const counter = new RevisionCounter(10);
  const store = new EventStore({ counter, watchWindowSize: 100, eventTtlMs: 60_000, now: Date.now });
  const stream = createWatchStream({
    store,
    controls: new Controls(),
    counter,
    resourceVersion: 10,
    isInitialEventsRequested: false,
    isBookmarkAllowed: true,
    bookmarkIntervalMs: 60_000,
    timeoutMs: 50,
    signal: new AbortController().signal,
  });
  for (let i = 0; i < 3; i++) {
    store.create({ apiVersion: "v1", kind: "Event", metadata: { namespace: "a", name: `e${i}` }, involvedObject: {} });
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const lines = (await new Response(stream).text()).trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((l) => [l.type, l.object.metadata.resourceVersion]), [["BOOKMARK", "10"]]);
});
