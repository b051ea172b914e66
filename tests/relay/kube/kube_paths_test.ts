import assert from "node:assert/strict";
import {
  toEventsPath,
  toGroupVersion,
  toGroupVersionPath,
  toLeasePath,
  toNamespacePath,
  toObjectPath,
} from "../../../relay/kube/kube_paths.ts";

const DEPLOYMENTS = { group: "apps", version: "v1", resource: "deployments", isNamespaced: true };
const NODES = { group: "", version: "v1", resource: "nodes", isNamespaced: false };

Deno.test("toEventsPath names the cluster-wide list, or one namespace's, escaped", () => {
  assert.equal(toEventsPath(), "/api/v1/events");
  assert.equal(toEventsPath("kube-system"), "/api/v1/namespaces/kube-system/events");
  assert.equal(toEventsPath("a/b c"), "/api/v1/namespaces/a%2Fb%20c/events");
});

Deno.test("toGroupVersion splits apiVersion into group and version, the core group being empty", () => {
  assert.deepEqual(toGroupVersion("v1"), { group: "", version: "v1" });
  assert.deepEqual(toGroupVersion("apps/v1"), { group: "apps", version: "v1" });
  assert.deepEqual(toGroupVersion("x.example.com/v1beta1/extra"), { group: "x.example.com", version: "v1beta1" });
});

Deno.test("toGroupVersionPath serves the core group under /api and the others under /apis", () => {
  assert.equal(toGroupVersionPath("", "v1"), "/api/v1");
  assert.equal(toGroupVersionPath("apps", "v1"), "/apis/apps/v1");
});

Deno.test("toObjectPath scopes namespaced resources and leaves cluster-scoped ones unscoped", () => {
  assert.equal(
    toObjectPath(DEPLOYMENTS, { namespace: "ns1", name: "web" }),
    "/apis/apps/v1/namespaces/ns1/deployments/web",
  );
  assert.equal(toObjectPath(DEPLOYMENTS, { name: "web" }), "/apis/apps/v1/deployments/web");
  assert.equal(toObjectPath(NODES, { namespace: "ns1", name: "node-1" }), "/api/v1/nodes/node-1");
  assert.equal(toObjectPath(NODES, { name: "a/b" }), "/api/v1/nodes/a%2Fb");
});

Deno.test("toNamespacePath and toLeasePath escape their names", () => {
  assert.equal(toNamespacePath("kube-system"), "/api/v1/namespaces/kube-system");
  assert.equal(toLeasePath("default"), "/apis/coordination.k8s.io/v1/namespaces/default/leases");
  assert.equal(toLeasePath("default", "relay?x"), "/apis/coordination.k8s.io/v1/namespaces/default/leases/relay%3Fx");
});
