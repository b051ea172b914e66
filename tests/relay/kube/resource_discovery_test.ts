import assert from "node:assert/strict";
import { KubeApiError, type KubeObject } from "../../../relay/kube/kube_api.ts";
import {
  GROUP_VERSIONS_MAX,
  ResourceDiscovery,
  UNKNOWN_KIND_RETRY_MS,
} from "../../../relay/kube/resource_discovery.ts";

/** Discovery documents by path (a missing path answers 404, as the API server does); records every request. */
function discoveryServer(documents: Record<string, KubeObject>) {
  const requested: string[] = [];
  let nowMs = 1_000;
  const discovery = new ResourceDiscovery({
    requestJson: (path) => {
      requested.push(path);
      const document = documents[path];
      if (document === undefined) {
        return Promise.reject(
          new KubeApiError(`Cannot GET ${path}: 404 not found`, { status: 404, reason: "NotFound" }),
        );
      }
      return Promise.resolve(document);
    },
    now: () => nowMs,
  });
  return { discovery, requested, advance: (ms: number) => (nowMs += ms) };
}

const APPS_V1 = {
  "/apis/apps/v1": {
    resources: [
      { name: "deployments", kind: "Deployment", namespaced: true },
      { name: "replicasets", kind: "ReplicaSet", namespaced: true },
    ],
  },
};

Deno.test("ResourceDiscovery reads a group version once for every kind it serves", async () => {
  const { discovery, requested, advance } = discoveryServer(APPS_V1);
  assert.deepEqual(await discovery.resolve({ apiVersion: "apps/v1", kind: "Deployment" }), {
    group: "apps",
    version: "v1",
    resource: "deployments",
    isNamespaced: true,
  });
  assert.equal((await discovery.resolve({ apiVersion: "apps/v1", kind: "ReplicaSet" }))?.resource, "replicasets");
  advance(10 * UNKNOWN_KIND_RETRY_MS);
  assert.equal((await discovery.resolve({ apiVersion: "apps/v1", kind: "Deployment" }))?.resource, "deployments");
  assert.deepEqual(requested, ["/apis/apps/v1"]);
});

Deno.test("ResourceDiscovery asks again for a missing kind only after UNKNOWN_KIND_RETRY_MS", async () => {
  const { discovery, requested, advance } = discoveryServer(APPS_V1);
  assert.equal(await discovery.resolve({ apiVersion: "apps/v1", kind: "Widget" }), undefined);
  advance(UNKNOWN_KIND_RETRY_MS - 1);
  assert.equal(await discovery.resolve({ apiVersion: "apps/v1", kind: "Widget" }), undefined);
  assert.equal(requested.length, 1);
  advance(1);
  assert.equal(await discovery.resolve({ apiVersion: "apps/v1", kind: "Widget" }), undefined);
  assert.deepEqual(requested, ["/apis/apps/v1", "/apis/apps/v1"]);
});

Deno.test("ResourceDiscovery answers undefined for a group version the server does not serve, and caches it", async () => {
  const { discovery, requested, advance } = discoveryServer({});
  assert.equal(await discovery.resolve({ apiVersion: "example.com/v1", kind: "Widget" }), undefined);
  assert.equal(await discovery.resolve({ apiVersion: "example.com/v1", kind: "Gadget" }), undefined);
  advance(UNKNOWN_KIND_RETRY_MS);
  assert.equal(await discovery.resolve({ apiVersion: "example.com/v1", kind: "Widget" }), undefined);
  assert.deepEqual(requested, ["/apis/example.com/v1", "/apis/example.com/v1"]);
});

Deno.test("ResourceDiscovery reads the core group under /api and passes other failures on", async () => {
  const { discovery, requested } = discoveryServer({
    "/api/v1": { resources: [{ name: "pods", kind: "Pod", namespaced: true }] },
  });
  assert.equal((await discovery.resolve({ apiVersion: "v1", kind: "Pod" }))?.resource, "pods");
  assert.deepEqual(requested, ["/api/v1"]);
  const failing = new ResourceDiscovery({
    requestJson: () =>
      Promise.reject(new KubeApiError("Cannot GET /api/v1: 403 forbidden", { status: 403, reason: "Forbidden" })),
  });
  await assert.rejects(
    failing.resolve({ apiVersion: "v1", kind: "Pod" }),
    (error: unknown) => error instanceof KubeApiError && error.status === 403,
  );
});

Deno.test("ResourceDiscovery starts its cache over past GROUP_VERSIONS_MAX group versions", async () => {
  const { discovery, requested } = discoveryServer(APPS_V1);
  await discovery.resolve({ apiVersion: "apps/v1", kind: "Deployment" });
  for (let i = 0; i <= GROUP_VERSIONS_MAX; i++) await discovery.resolve({ apiVersion: `g${i}.example/v1`, kind: "X" });
  await discovery.resolve({ apiVersion: "apps/v1", kind: "Deployment" });
  assert.equal(requested.length, GROUP_VERSIONS_MAX + 3);
  assert.equal(requested.at(-1), "/apis/apps/v1");
});
