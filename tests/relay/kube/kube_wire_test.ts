import assert from "node:assert/strict";
import { KubeApiError } from "../../../relay/kube/kube_api.ts";
import {
  toEventListPage,
  toKubeApiError,
  toLease,
  toLeaseBody,
  toMicroTime,
  toNamespaceUid,
  toObjectMetadata,
  toResourceMappings,
} from "../../../relay/kube/kube_wire.ts";

Deno.test("toEventListPage reads items, the list resourceVersion and the continue token", () => {
  const items = [{ metadata: { uid: "u1" } }];
  assert.deepEqual(toEventListPage({ items, metadata: { resourceVersion: "12", continue: "tok" } }), {
    items,
    resourceVersion: "12",
    continueToken: "tok",
  });
});

Deno.test("toEventListPage ends the pages on an empty or missing continue token", () => {
  assert.deepEqual(toEventListPage({ items: [], metadata: { resourceVersion: "7", continue: "" } }), {
    items: [],
    resourceVersion: "7",
    continueToken: null,
  });
  assert.deepEqual(toEventListPage({}), { items: [], resourceVersion: "", continueToken: null });
});

Deno.test("toResourceMappings maps kinds to resources and leaves out subresources", () => {
  const body = {
    kind: "APIResourceList",
    groupVersion: "apps/v1",
    resources: [
      { name: "deployments", kind: "Deployment", namespaced: true },
      { name: "deployments/scale", kind: "Scale", namespaced: true },
      { name: "controllerrevisions", kind: "ControllerRevision", namespaced: true },
      { kind: "Nameless" },
    ],
  };
  const mappings = toResourceMappings({ group: "apps", version: "v1" }, body);
  assert.deepEqual([...mappings.entries()], [
    ["Deployment", { group: "apps", version: "v1", resource: "deployments", isNamespaced: true }],
    ["ControllerRevision", { group: "apps", version: "v1", resource: "controllerrevisions", isNamespaced: true }],
  ]);
  assert.equal(
    toResourceMappings({ group: "", version: "v1" }, { resources: [{ name: "nodes", kind: "Node" }] })
      .get("Node")?.isNamespaced,
    false,
  );
  assert.equal(toResourceMappings({ group: "", version: "v1" }, {}).size, 0);
});

Deno.test("toObjectMetadata keeps uid, name, namespace, labels and the owner fields the relay uses", () => {
  const object = {
    kind: "PartialObjectMetadata",
    metadata: {
      uid: "u-1",
      name: "web-5d9",
      namespace: "ns1",
      labels: { app: "web" },
      annotations: { note: "not kept" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "web",
          uid: "u-rs",
          controller: true,
          blockOwnerDeletion: true,
        },
        { apiVersion: "v1", kind: "ConfigMap", name: "cfg", uid: "u-cm", controller: false },
      ],
    },
  };
  assert.deepEqual(toObjectMetadata(object, "web-5d9"), {
    uid: "u-1",
    name: "web-5d9",
    namespace: "ns1",
    labels: { app: "web" },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web", uid: "u-rs", controller: true },
      { apiVersion: "v1", kind: "ConfigMap", name: "cfg", uid: "u-cm" },
    ],
  });
});

Deno.test("toObjectMetadata of an object without metadata names it after the request", () => {
  assert.deepEqual(toObjectMetadata({}, "node-1"), { uid: "", name: "node-1", labels: {}, ownerReferences: [] });
  assert.deepEqual(toObjectMetadata({ metadata: { labels: null } }, "n").labels, {});
});

Deno.test("toNamespaceUid reads metadata.uid and refuses a namespace without one", () => {
  assert.equal(toNamespaceUid({ metadata: { uid: "6f1c" } }, "kube-system"), "6f1c");
  assert.throws(
    () => toNamespaceUid({ metadata: { uid: "" } }, "kube-system"),
    (error: unknown) =>
      error instanceof KubeApiError && error.status === 0 && error.reason === "Invalid" &&
      error.message === "Cannot read namespace kube-system: it has no metadata.uid",
  );
});

Deno.test("toKubeApiError takes reason and message from a Status body, and the raw text otherwise", () => {
  const status = JSON.stringify({ kind: "Status", reason: "Expired", message: "too old resource version: 1 (5)" });
  const fromStatus = toKubeApiError(410, status, "GET /api/v1/events");
  assert.equal(fromStatus.message, "Cannot GET /api/v1/events: 410 too old resource version: 1 (5)");
  assert.deepEqual([fromStatus.status, fromStatus.reason], [410, "Expired"]);
  const fromPage = toKubeApiError(502, "<html>bad gateway</html>", "GET /api/v1");
  assert.equal(fromPage.message, "Cannot GET /api/v1: 502 <html>bad gateway</html>");
  assert.deepEqual([fromPage.status, fromPage.reason], [502, "Unknown"]);
});

Deno.test("toLeaseBody and toLease round-trip a Lease, leaving nulls out of the body", () => {
  const lease = {
    namespace: "default",
    name: "relay",
    resourceVersion: "9",
    holderIdentity: "relay-0",
    leaseDurationSeconds: 15,
    acquireTime: toMicroTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    renewTime: null,
    leaseTransitions: 2,
  };
  const body = toLeaseBody(lease);
  assert.deepEqual(body.spec, {
    leaseTransitions: 2,
    holderIdentity: "relay-0",
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05.678000Z",
  });
  assert.deepEqual(toLease(body), lease);
});
