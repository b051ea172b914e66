import assert from "node:assert/strict";
import { ApiException, CoreV1Api } from "@kubernetes/client-node";
import { type Simulator, startSimulator } from "../../../../relay/simulator/simulator.ts";
import { toKubeConfig, withSimulator as withSupportSimulator } from "../kube_client_support.ts";

const NOW_MS = Date.parse("2026-03-01T12:00:00Z");

function withSimulator(fn: (simulator: Simulator, api: CoreV1Api) => Promise<void>): Promise<void> {
  return withSupportSimulator((simulator) => fn(simulator, toKubeConfig(simulator).makeApiClient(CoreV1Api)), {
    now: () => NOW_MS,
  });
}

function createEvents(simulator: Awaited<ReturnType<typeof startSimulator>>, keys: [string, string][]) {
  return keys.map(([namespace, name]) =>
    simulator.createEvent({
      metadata: { name, namespace },
      involvedObject: { kind: "Pod", name: `pod-${name}`, namespace },
    })
  );
}

function expectApiError(status: number, reason: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ApiException, `expected ApiException, got ${error}`);
    assert.equal(error.code, status);
    assert.equal(JSON.parse(String(error.body)).reason, reason);
    return true;
  };
}

Deno.test("listEventForAllNamespaces pages with limit and continue at one list resourceVersion", async () => {
  await withSimulator(async (simulator, api) => {
    createEvents(simulator, [["b", "e2"], ["a", "e3"], ["b", "e1"], ["a", "e1"], ["c", "e1"]]);
    const listVersion = simulator.resourceVersion;
    const pages: string[][] = [];
    const versions: (string | undefined)[] = [];
    let token: string | undefined;
    do {
      const page = await api.listEventForAllNamespaces({ limit: 2, _continue: token });
      pages.push(page.items.map((e) => `${e.metadata.namespace}/${e.metadata.name}`));
      versions.push(page.metadata?.resourceVersion);
      token = page.metadata?._continue;
    } while (token);
    assert.deepEqual(pages, [["a/e1", "a/e3"], ["b/e1", "b/e2"], ["c/e1"]]);
    assert.deepEqual(versions, [listVersion, listVersion, listVersion]);
  });
});

Deno.test("listEventForAllNamespaces pages show the list's snapshot even when events change between pages", async () => {
  await withSimulator(async (simulator, api) => {
    const [, second] = createEvents(simulator, [["a", "e1"], ["a", "e2"], ["a", "e3"]]);
    const first = await api.listEventForAllNamespaces({ limit: 1 });
    simulator.updateEvent("a", "e2", (e) => e.count = 9);
    simulator.deleteEvent("a", "e3");
    createEvents(simulator, [["a", "e4"]]);
    const rest = await api.listEventForAllNamespaces({ limit: 10, _continue: first.metadata?._continue });
    assert.deepEqual(rest.items.map((e) => [e.metadata.name, e.metadata.resourceVersion, e.count]), [
      ["e2", second!.metadata.resourceVersion, 1],
      ["e3", String(Number(second!.metadata.resourceVersion) + 1), 1],
    ]);
    assert.equal(rest.metadata?._continue, undefined);
  });
});

Deno.test("listNamespacedEvent lists one namespace only", async () => {
  await withSimulator(async (simulator, api) => {
    createEvents(simulator, [["a", "e1"], ["b", "e2"], ["b", "e3"]]);
    const list = await api.listNamespacedEvent({ namespace: "b" });
    assert.deepEqual(list.items.map((e) => e.metadata.name), ["e2", "e3"]);
    assert.equal(list.metadata?.resourceVersion, simulator.resourceVersion);
  });
});

Deno.test("listEventForAllNamespaces answers 410 Expired for a continue token older than the window", async () => {
  await withSimulator(async (simulator, api) => {
    createEvents(simulator, [["a", "e1"], ["a", "e2"]]);
    const first = await api.listEventForAllNamespaces({ limit: 1 });
    createEvents(simulator, [["a", "e3"]]);
    simulator.expireWatchWindow();
    await assert.rejects(
      api.listEventForAllNamespaces({ limit: 1, _continue: first.metadata?._continue }),
      expectApiError(410, "Expired"),
    );
  });
});

Deno.test("listEventForAllNamespaces with resourceVersionMatch=Exact before the window answers 410", async () => {
  await withSimulator(async (simulator, api) => {
    const [event] = createEvents(simulator, [["a", "e1"]]);
    createEvents(simulator, [["a", "e2"]]);
    const exact = await api.listEventForAllNamespaces({
      resourceVersion: event!.metadata.resourceVersion,
      resourceVersionMatch: "Exact",
    });
    assert.deepEqual(exact.items.map((e) => e.metadata.name), ["e1"]);
    simulator.expireWatchWindow();
    await assert.rejects(
      api.listEventForAllNamespaces({
        resourceVersion: event!.metadata.resourceVersion,
        resourceVersionMatch: "Exact",
      }),
      expectApiError(410, "Expired"),
    );
  });
});

Deno.test("listEventForAllNamespaces filters with a field selector and refuses unsupported fields with 400", async () => {
  await withSimulator(async (simulator, api) => {
    createEvents(simulator, [["a", "e1"], ["a", "e2"], ["b", "e3"]]);
    const list = await api.listEventForAllNamespaces({ fieldSelector: "involvedObject.name=pod-e2" });
    assert.deepEqual(list.items.map((e) => e.metadata.name), ["e2"]);
    const negated = await api.listEventForAllNamespaces({ fieldSelector: "metadata.namespace!=a" });
    assert.deepEqual(negated.items.map((e) => e.metadata.name), ["e3"]);
    await assert.rejects(
      api.listEventForAllNamespaces({ fieldSelector: "spec.nodeName=x" }),
      expectApiError(400, "BadRequest"),
    );
  });
});

Deno.test("readNamespacedEvent returns the event with its defaults filled in", async () => {
  await withSimulator(async (simulator, api) => {
    const created = simulator.createEvent({
      involvedObject: { apiVersion: "v1", kind: "Pod", name: "web-0", namespace: "shop", uid: "u-1" },
      reason: "Started",
      message: "Started container app",
      source: { component: "kubelet", host: "node-1" },
    });
    const read = await api.readNamespacedEvent({ namespace: "shop", name: created.metadata.name! });
    assert.match(created.metadata.name!, /^web-0\.[0-9a-f]+$/);
    assert.equal(read.metadata.uid, created.metadata.uid);
    assert.equal(read.metadata.resourceVersion, simulator.resourceVersion);
    assert.equal(read.reason, "Started");
    assert.equal(read.count, 1);
    assert.deepEqual({ ...read.source }, { component: "kubelet", host: "node-1" });
    assert.deepEqual(read.firstTimestamp, new Date("2026-03-01T12:00:00Z"));
    assert.equal(created.firstTimestamp, "2026-03-01T12:00:00Z");
    assert.equal(created.metadata.managedFields?.length, 1);
    await assert.rejects(api.readNamespacedEvent({ namespace: "shop", name: "nope" }), expectApiError(404, "NotFound"));
  });
});

Deno.test("listEventForAllNamespaces refuses a malformed continue token with 400 and a future resourceVersion with 504", async () => {
  await withSimulator(async (simulator, api) => {
    await assert.rejects(
      api.listEventForAllNamespaces({ _continue: "not-a-token" }),
      expectApiError(400, "BadRequest"),
    );
    const future = String(Number(simulator.resourceVersion) + 10);
    await assert.rejects(api.listEventForAllNamespaces({ resourceVersion: future }), expectApiError(504, "Timeout"));
  });
});

Deno.test("a paged list counts the events left after each page, except under a field selector", async () => {
  await withSimulator(async (simulator) => {
    createEvents(simulator, [["a", "e1"], ["a", "e2"], ["a", "e3"], ["a", "e4"], ["b", "e5"]]);
    simulator.deleteEvent("a", "e4");
    const metadataOf = async (query: string) =>
      (await (await fetch(`${simulator.url}/api/v1/events?${query}`)).json()).metadata as Record<string, unknown>;
    const first = await metadataOf("limit=1");
    assert.equal(first.remainingItemCount, 3); // e2, e3, e5: the deleted e4 is not counted
    const last = await metadataOf(`limit=3&continue=${first.continue}`);
    assert.deepEqual(Object.keys(last).sort(), ["resourceVersion"]);
    const inNamespace = await (await fetch(`${simulator.url}/api/v1/namespaces/a/events?limit=2`)).json();
    assert.equal(inNamespace.metadata.remainingItemCount, 1);
    const selected = await metadataOf("limit=1&fieldSelector=involvedObject.kind%3DPod");
    assert.equal(typeof selected.continue, "string");
    assert.equal("remainingItemCount" in selected, false);
  });
});
