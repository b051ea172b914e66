/**
 * The simulator against a real kube-apiserver: the same requests go to both, and what the relay and kubectl depend on
 * must match — status codes, Status bodies, list metadata and paging, watch event types and order, bookmarks, the
 * forms of 410, Lease conflicts, PartialObjectMetadata, discovery, the Table columns and kubectl's printed headers.
 * Values that differ by nature (uids, timestamps, resourceVersion values, generated names) are compared by shape.
 */
import assert from "node:assert/strict";
import { type ControlPlane, controlPlaneTest } from "../../support/control_plane.ts";
import { type Simulator, startSimulator } from "../../../relay/simulator/simulator.ts";
import { createApiServerSide, createSimulatorSide, type Side } from "./differential_sides.ts";

const NAMESPACE = "differential";
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," +
  "application/json";
const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

interface Status {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: { field?: string; reason?: string }[] };
}

interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

interface WatchLine {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata?: Record<string, unknown> };
}

/** What a Status answer says that clients switch on: HTTP status, kind, reason, code and details (no message). */
function toStatusFacts(httpStatus: number, body: Status): unknown {
  const details = body.details === undefined ? undefined : {
    name: body.details.name,
    group: body.details.group,
    kind: body.details.kind,
    causes: body.details.causes?.map((cause) => ({ field: cause.field, reason: cause.reason })),
  };
  return {
    httpStatus,
    kind: body.kind,
    apiVersion: body.apiVersion,
    status: body.status,
    reason: body.reason,
    code: body.code,
    details,
  };
}

/** The same request on both sides; resolves to each side's status and parsed JSON body. */
async function requestBoth<T>(
  sides: Side[],
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }[]> {
  return await Promise.all(sides.map(async (side) => {
    const response = await side.fetch(path, init);
    return { status: response.status, body: JSON.parse(await response.text()) as T };
  }));
}

/** Asserts both answers are Status failures with the same facts, and returns the real one's facts. */
async function assertSameStatus(sides: Side[], path: string, init: RequestInit = {}): Promise<unknown> {
  const [simulated, real] = await requestBoth<Status>(sides, path, init);
  const realFacts = toStatusFacts(real!.status, real!.body);
  assert.deepEqual(
    toStatusFacts(simulated!.status, simulated!.body),
    realFacts,
    `Status of ${init.method ?? "GET"} ${path}`,
  );
  return realFacts;
}

/** Reads a watch until the server ends it (`timeoutSeconds` in the path), one parsed line each. */
async function readWatch(side: Side, path: string): Promise<{ status: number; lines: WatchLine[] }> {
  const response = await side.fetch(path);
  const text = await response.text();
  const lines = text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as WatchLine);
  return { status: response.status, lines };
}

/** Sorted keys of an object (its shape), `undefined` for a non-object. */
function keysOf(value: unknown): string[] | undefined {
  return typeof value === "object" && value !== null ? Object.keys(value).sort() : undefined;
}

/** The header line of kubectl's printed table, columns separated by single spaces. */
function toHeader(output: string): string {
  return (output.split("\n")[0] ?? "").trim().split(/\s{2,}/).join(" ");
}

async function runDifferential(plane: ControlPlane, simulator: Simulator, t: Deno.TestContext): Promise<void> {
  const sides = [await createSimulatorSide(simulator, plane), createApiServerSide(plane)];
  for (const side of sides) {
    await side.createNamespace(NAMESPACE);
    for (let i = 0; i < 5; i++) await side.createEvent(NAMESPACE, `listed-${i}`);
  }

  await t.step("discovery: /version, /api, /api/v1 events, /apis groups and leases have the same fields", async () => {
    const versions = await requestBoth<Record<string, string>>(sides, "/version");
    assert.deepEqual(keysOf(versions[0]!.body), keysOf(versions[1]!.body));
    const apis = await requestBoth<Record<string, unknown>>(sides, "/api");
    assert.deepEqual(
      { ...apis[0]!.body, serverAddressByClientCIDRs: undefined },
      { ...apis[1]!.body, serverAddressByClientCIDRs: undefined },
    );
    type ResourceList = {
      kind: string;
      apiVersion?: string;
      groupVersion: string;
      resources: Record<string, unknown>[];
    };
    const entry = (list: ResourceList, name: string) => {
      const { storageVersionHash: _hash, verbs: _verbs, ...rest } = list.resources.find((r) => r.name === name)!;
      return rest;
    };
    const verbsOf = (list: ResourceList, name: string) =>
      list.resources.find((r) => r.name === name)!.verbs as string[];
    const core = await requestBoth<ResourceList>(sides, "/api/v1");
    assert.deepEqual(keysOf(core[0]!.body), keysOf(core[1]!.body), "/api/v1 fields");
    for (const name of ["events", "pods", "namespaces", "nodes"]) {
      assert.deepEqual(entry(core[0]!.body, name), entry(core[1]!.body, name), `/api/v1 ${name}`);
      // The simulator serves fewer verbs (see the README), never one the API server does not.
      const [simulated, real] = [verbsOf(core[0]!.body, name), verbsOf(core[1]!.body, name)];
      assert.deepEqual(simulated.filter((verb) => !real.includes(verb)), [], `/api/v1 ${name} verbs`);
      for (const verb of name === "events" ? ["get", "list", "watch"] : ["get", "list"]) {
        assert.ok(simulated.includes(verb), `the simulator serves ${verb} ${name}`);
      }
    }
    const coordination = await requestBoth<ResourceList>(sides, "/apis/coordination.k8s.io/v1");
    assert.deepEqual(keysOf(coordination[0]!.body), keysOf(coordination[1]!.body));
    assert.deepEqual(entry(coordination[0]!.body, "leases"), entry(coordination[1]!.body, "leases"));
    const [simulatedVerbs, realVerbs] = coordination.map(({ body }) => verbsOf(body, "leases"));
    assert.deepEqual(simulatedVerbs!.filter((verb) => !realVerbs!.includes(verb)), [], "lease verbs");
    type GroupList = { kind: string; apiVersion: string; groups: { name: string }[] };
    const groups = await requestBoth<GroupList>(sides, "/apis");
    assert.deepEqual(keysOf(groups[0]!.body), keysOf(groups[1]!.body));
    for (const name of ["apps", "coordination.k8s.io"]) {
      const [simulated, real] = groups.map(({ body }) => body.groups.find((group) => group.name === name));
      assert.deepEqual(simulated, real, `/apis group ${name}`);
    }
  });

  await t.step("404: a missing event and a missing Lease", async () => {
    const event = await assertSameStatus(sides, `/api/v1/namespaces/${NAMESPACE}/events/missing`);
    assert.deepEqual((event as { details: unknown }).details, {
      name: "missing",
      kind: "events",
      group: undefined,
      causes: undefined,
    });
    await assertSameStatus(sides, `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/missing`);
  });

  await t.step(
    "409: creating a Lease twice (AlreadyExists), replacing it from a stale version (Conflict)",
    async () => {
      const leases = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
      const lease = (holder: string, resourceVersion?: string) =>
        JSON.stringify({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: "leader", ...(resourceVersion ? { resourceVersion } : {}) },
          spec: { holderIdentity: holder, leaseDurationSeconds: 15 },
        });
      const created = await requestBoth<{ metadata: { resourceVersion: string } }>(sides, leases, {
        method: "POST",
        body: lease("a"),
      });
      assert.deepEqual(created.map(({ status }) => status), [201, 201]);
      const again = await assertSameStatus(sides, leases, { method: "POST", body: lease("b") });
      assert.equal((again as { reason: string }).reason, "AlreadyExists");
      const renewed = await Promise.all(sides.map(async (side, i) => {
        const response = await side.fetch(`${leases}/leader`, {
          method: "PUT",
          // A real renewal changes the Lease; an update that changes nothing keeps the real resourceVersion.
          body: lease("a-renewed", created[i]!.body.metadata.resourceVersion),
        });
        await response.body?.cancel();
        return response.status;
      }));
      assert.deepEqual(renewed, [200, 200]);
      // Each side's first version is now stale there.
      const stale = await Promise.all(sides.map(async (side, i) => {
        const response = await side.fetch(`${leases}/leader`, {
          method: "PUT",
          body: lease("b", created[i]!.body.metadata.resourceVersion),
        });
        return toStatusFacts(response.status, await response.json());
      }));
      assert.deepEqual(stale[0], stale[1]);
      assert.equal((stale[1] as { reason: string }).reason, "Conflict");
    },
  );

  await t.step("422: a Lease with an invalid name", async () => {
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
    const body = JSON.stringify({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "Not_Valid" },
    });
    const facts = await assertSameStatus(sides, leases, { method: "POST", body });
    assert.equal((facts as { reason: string }).reason, "Invalid");
  });

  await t.step("403: the simulator's injected 403 looks like RBAC's refusal", async () => {
    const token = await plane.createServiceAccountToken(NAMESPACE, "nobody");
    const path = `/api/v1/namespaces/${NAMESPACE}/events`;
    simulator.injectErrors({ method: "GET", pathPattern: new RegExp(`^${path}$`), status: 403, times: 1 });
    const simulated = await sides[0]!.fetch(path);
    const real = await plane.apiFetch(path, { token });
    assert.deepEqual(
      toStatusFacts(simulated.status, await simulated.json()),
      toStatusFacts(real.status, await real.json()),
    );
  });

  await t.step("lists: resourceVersion, continue paging with limit, remainingItemCount", async () => {
    const path = `/api/v1/namespaces/${NAMESPACE}/events`;
    const pages = await Promise.all(sides.map(async (side) => {
      const shapes: unknown[] = [];
      const names: number[] = [];
      let token: string | undefined;
      do {
        const query = `?limit=2${token ? `&continue=${encodeURIComponent(token)}` : ""}`;
        const list = await (await side.fetch(path + query)).json() as { metadata: ListMeta; items: unknown[] };
        shapes.push({ keys: keysOf(list.metadata), remaining: list.metadata.remainingItemCount });
        names.push(list.items.length);
        token = list.metadata.continue;
      } while (token);
      return { shapes, names };
    }));
    assert.deepEqual(pages[0], pages[1]);
    assert.deepEqual(pages[1]!.names, [2, 2, 1]);
    const selected = await requestBoth<{ metadata: ListMeta }>(sides, `${path}?limit=2&fieldSelector=type%3DNormal`);
    assert.deepEqual(keysOf(selected[0]!.body.metadata), keysOf(selected[1]!.body.metadata), "with a field selector");
  });

  await t.step("PartialObjectMetadata of namespaces and pods, one and listed", async () => {
    for (const side of sides) await side.createPod(NAMESPACE, "subject");
    const shape = (value: { kind: string; apiVersion: string; metadata: Record<string, unknown> }) => ({
      kind: value.kind,
      apiVersion: value.apiVersion,
      metadata: ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"].filter((key) =>
        key in value.metadata
      ),
    });
    type Partial = { kind: string; apiVersion: string; metadata: Record<string, unknown> };
    const one = await requestBoth<Partial>(sides, `/api/v1/namespaces/${NAMESPACE}/pods/subject`, {
      headers: { accept: METADATA_ACCEPT },
    });
    assert.deepEqual(shape(one[0]!.body), shape(one[1]!.body));
    const namespace = await requestBoth<Partial>(sides, `/api/v1/namespaces/${NAMESPACE}`, {
      headers: { accept: METADATA_ACCEPT },
    });
    assert.deepEqual(shape(namespace[0]!.body), shape(namespace[1]!.body));
    type PartialList = Partial & { items: Partial[] };
    for (const path of ["/api/v1/namespaces", `/api/v1/namespaces/${NAMESPACE}/pods`]) {
      const lists = await requestBoth<PartialList>(sides, path, { headers: { accept: METADATA_LIST_ACCEPT } });
      const listShape = (list: PartialList) => ({ ...shape(list), items: [shape(list.items[0]!)] });
      assert.deepEqual(listShape(lists[0]!.body), listShape(lists[1]!.body), path);
    }
  });

  await t.step("a watch from now sees ADDED, MODIFIED, DELETED in order", async () => {
    const results = await Promise.all(sides.map(async (side) => {
      const list = await (await side.fetch(`/api/v1/namespaces/${NAMESPACE}/events`)).json() as { metadata: ListMeta };
      const watch = readWatch(
        side,
        `/api/v1/namespaces/${NAMESPACE}/events?watch=true&resourceVersion=${list.metadata.resourceVersion}` +
          "&timeoutSeconds=2",
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await side.createEvent(NAMESPACE, "watched");
      await side.updateEvent(NAMESPACE, "watched");
      await side.deleteEvent(NAMESPACE, "watched");
      return await watch;
    }));
    const types = results.map(({ status, lines }) => ({ status, types: lines.map((line) => line.type) }));
    assert.deepEqual(types[0], types[1]);
    assert.deepEqual(types[1], { status: 200, types: ["ADDED", "MODIFIED", "DELETED"] });
  });

  await t.step(
    "bookmarks: BOOKMARK objects carry only a resourceVersion (and the initial-events-end mark)",
    async () => {
      const path = `/api/v1/namespaces/${NAMESPACE}/events?watch=true&allowWatchBookmarks=true&sendInitialEvents=true` +
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=2";
      const results = await Promise.all(sides.map((side) => readWatch(side, path)));
      const shapes = results.map(({ status, lines }) => {
        const bookmarks = lines.filter((line) => line.type === "BOOKMARK");
        const end = bookmarks.find((line) => line.object.metadata?.annotations !== undefined);
        return {
          status,
          types: [...new Set(lines.map((line) => line.type))],
          added: lines.filter((line) => line.type === "ADDED").length,
          end: end && { kind: end.object.kind, keys: keysOf(end.object.metadata), ...end.object.metadata },
          // Every bookmark, with or without the mark, has nothing but these in its metadata.
          isOnlyVersion: bookmarks.every((line) =>
            keysOf(line.object.metadata)!.every((key) => key === "resourceVersion" || key === "annotations")
          ),
        };
      });
      const normalized = shapes.map((shape) => ({ ...shape, end: { ...shape.end, resourceVersion: "<version>" } }));
      assert.deepEqual(normalized[0], normalized[1]);
      assert.deepEqual(normalized[1], {
        status: 200,
        types: ["ADDED", "BOOKMARK"],
        added: 5,
        end: {
          kind: "Event",
          keys: ["annotations", "resourceVersion"],
          annotations: { "k8s.io/initial-events-end": "true" },
          resourceVersion: "<version>",
        },
        isOnlyVersion: true,
      });
    },
  );

  await t.step("410: watch and lists from a compacted resourceVersion, an expired continue token", async () => {
    const path = `/api/v1/namespaces/${NAMESPACE}/events`;
    const firstPages = await Promise.all(sides.map(async (side) => {
      const page = await (await side.fetch(`${path}?limit=2`)).json() as { metadata: ListMeta };
      await side.createEvent(NAMESPACE, "after-first-page");
      await side.createEvent(NAMESPACE, "after-first-page-2");
      await side.expireHistory();
      return page.metadata;
    }));
    const watches = await Promise.all(sides.map(async (side, i) => {
      const answer = await readWatch(side, `${path}?watch=true&resourceVersion=${firstPages[i]!.resourceVersion}`);
      return {
        status: answer.status,
        lines: answer.lines.map((line) => ({
          type: line.type,
          code: line.object.code,
          reason: line.object.reason,
          kind: line.object.kind,
        })),
      };
    }));
    assert.deepEqual(watches[0], watches[1]);
    assert.deepEqual(watches[1], {
      status: 200,
      lines: [{ type: "ERROR", code: 410, reason: "Expired", kind: "Status" }],
    });
    const lists = await Promise.all(sides.map(async (side, i) => {
      const exact = await side.fetch(
        `${path}?resourceVersion=${firstPages[i]!.resourceVersion}&resourceVersionMatch=Exact`,
      );
      const continued = await side.fetch(`${path}?limit=2&continue=${encodeURIComponent(firstPages[i]!.continue!)}`);
      return [
        toStatusFacts(exact.status, await exact.json()),
        toStatusFacts(continued.status, await continued.json()),
      ];
    }));
    assert.deepEqual(lists[0], lists[1]);
    const expired = {
      httpStatus: 410,
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      reason: "Expired",
      code: 410,
    };
    assert.deepEqual(lists[1], [{ ...expired, details: undefined }, { ...expired, details: undefined }]);
  });

  await t.step("Table columns of `kubectl get events` (the Accept header kubectl sends)", async () => {
    type Table = { kind: string; apiVersion: string; columnDefinitions: Record<string, unknown>[]; rows: unknown[] };
    const tables = await requestBoth<Table>(sides, `/api/v1/namespaces/${NAMESPACE}/events?limit=500`, {
      headers: { accept: TABLE_ACCEPT },
    });
    const columns = tables.map(({ body }) =>
      body.columnDefinitions.map(({ name, type, format, priority }) => ({ name, type, format, priority }))
    );
    assert.deepEqual(columns[0], columns[1]);
  });

  await t.step("kubectl get events -A, -o wide and -w print the same headers", async () => {
    for (const args of [["get", "events", "-A"], ["get", "events", "-n", NAMESPACE, "-o", "wide"]]) {
      const outputs = await Promise.all(sides.map((side) => side.kubectl(args)));
      assert.deepEqual(toHeader(outputs[0]!), toHeader(outputs[1]!), `kubectl ${args.join(" ")}`);
    }
    const watched = await Promise.all(
      sides.map((side) => side.kubectl(["get", "events", "-n", NAMESPACE, "-w"], { stopAfterMs: 3_000 })),
    );
    assert.deepEqual(toHeader(watched[0]!), toHeader(watched[1]!), "kubectl get events -w");
    assert.match(toHeader(watched[1]!), /^LAST SEEN TYPE REASON OBJECT MESSAGE$/);
  });
}

controlPlaneTest("the simulator answers like a real kube-apiserver where the relay and kubectl look", {}, async (
  plane,
  t,
) => {
  const simulator = await startSimulator({ bookmarkIntervalMs: 60_000 });
  try {
    await runDifferential(plane, simulator, t);
  } finally {
    await simulator.close();
  }
});
