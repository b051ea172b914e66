import assert from "node:assert/strict";
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Lease,
} from "@kubernetes/client-node";
import { type Simulator, startSimulator } from "../../../../relay/simulator/simulator.ts";
import { toKubeConfig, withSimulator as withSupportSimulator } from "../kube_client_support.ts";

const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const COMPOSITION_ID = "0c5a8a4e-9b0e-4c8e-9d55-6f3f2f6a1f00";

function withSimulator(fn: (simulator: Simulator) => Promise<void>): Promise<void> {
  return withSupportSimulator(fn, { clusterUid: "cluster-uid-1" });
}

function expectApiError(status: number, reason: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ApiException, `expected ApiException, got ${error}`);
    assert.equal(error.code, status);
    assert.equal(JSON.parse(String(error.body)).reason, reason);
    return true;
  };
}

const lease = (holder: string, resourceVersion?: string): V1Lease => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "relay", namespace: "ops", resourceVersion },
  spec: { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 0 },
});

Deno.test("CoordinationV1Api creates, reads and replaces a Lease, each write with a new resourceVersion", async () => {
  await withSimulator(async (simulator) => {
    const api = toKubeConfig(simulator).makeApiClient(CoordinationV1Api);
    const created = await api.createNamespacedLease({ namespace: "ops", body: lease("relay-a") });
    assert.equal(created.metadata?.resourceVersion, simulator.resourceVersion);
    const read = await api.readNamespacedLease({ namespace: "ops", name: "relay" });
    assert.equal(read.spec?.holderIdentity, "relay-a");
    assert.equal(read.metadata?.uid, created.metadata?.uid);
    const replaced = await api.replaceNamespacedLease({
      namespace: "ops",
      name: "relay",
      body: lease("relay-b", read.metadata?.resourceVersion),
    });
    assert.equal(replaced.spec?.holderIdentity, "relay-b");
    assert.equal(Number(replaced.metadata?.resourceVersion), Number(read.metadata?.resourceVersion) + 1);
    assert.equal(replaced.metadata?.uid, created.metadata?.uid);
  });
});

Deno.test("CoordinationV1Api.replaceNamespacedLease with a stale resourceVersion answers 409 Conflict", async () => {
  await withSimulator(async (simulator) => {
    const api = toKubeConfig(simulator).makeApiClient(CoordinationV1Api);
    const created = await api.createNamespacedLease({ namespace: "ops", body: lease("relay-a") });
    await api.replaceNamespacedLease({
      namespace: "ops",
      name: "relay",
      body: lease("relay-b", created.metadata?.resourceVersion),
    });
    await assert.rejects(
      api.replaceNamespacedLease({
        namespace: "ops",
        name: "relay",
        body: lease("relay-c", created.metadata?.resourceVersion),
      }),
      expectApiError(409, "Conflict"),
    );
    const read = await api.readNamespacedLease({ namespace: "ops", name: "relay" });
    assert.equal(read.spec?.holderIdentity, "relay-b");
  });
});

Deno.test("CoordinationV1Api.createNamespacedLease of an existing Lease answers 409 AlreadyExists", async () => {
  await withSimulator(async (simulator) => {
    const api = toKubeConfig(simulator).makeApiClient(CoordinationV1Api);
    await api.createNamespacedLease({ namespace: "ops", body: lease("relay-a") });
    await assert.rejects(
      api.createNamespacedLease({ namespace: "ops", body: lease("relay-b") }),
      expectApiError(409, "AlreadyExists"),
    );
    await assert.rejects(api.readNamespacedLease({ namespace: "ops", name: "other" }), expectApiError(404, "NotFound"));
  });
});

Deno.test("Lease renewTime round-trips with microsecond precision text", async () => {
  await withSimulator(async (simulator) => {
    const url = `${simulator.url}/apis/coordination.k8s.io/v1/namespaces/ops/leases`;
    const body = { ...lease("relay-a"), spec: { holderIdentity: "relay-a", renewTime: "2026-03-01T12:00:00.123456Z" } };
    const created = await fetch(url, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    assert.equal(created.status, 201);
    assert.equal((await created.json()).spec.renewTime, "2026-03-01T12:00:00.123456Z");
  });
});

Deno.test("CoreV1Api and AppsV1Api read pods, replicasets, deployments and nodes with labels and ownerReferences", async () => {
  await withSimulator(async (simulator) => {
    await simulator.podLifecycle({
      namespace: "shop",
      deployment: "web",
      replicas: 1,
      labels: { "krateo.io/composition-id": COMPOSITION_ID },
    });
    const config = toKubeConfig(simulator);
    const core = config.makeApiClient(CoreV1Api);
    const apps = config.makeApiClient(AppsV1Api);
    const [pod] = (await core.listNamespacedPod({ namespace: "shop" })).items;
    assert.equal(pod?.metadata?.labels?.["krateo.io/composition-id"], COMPOSITION_ID);
    const podOwner = pod?.metadata?.ownerReferences?.[0];
    assert.equal(podOwner?.kind, "ReplicaSet");
    const replicaSet = await apps.readNamespacedReplicaSet({ namespace: "shop", name: podOwner!.name });
    assert.equal(replicaSet.metadata?.uid, podOwner?.uid);
    const rsOwner = replicaSet.metadata?.ownerReferences?.[0];
    assert.deepEqual([rsOwner?.kind, rsOwner?.name, rsOwner?.controller], ["Deployment", "web", true]);
    const deployment = await apps.readNamespacedDeployment({ namespace: "shop", name: "web" });
    assert.equal(deployment.metadata?.uid, rsOwner?.uid);
    assert.deepEqual({ ...deployment.metadata?.labels }, { app: "web", "krateo.io/composition-id": COMPOSITION_ID });
    const node = await core.readNode({ name: pod!.spec!.nodeName! });
    assert.equal(node.metadata?.name, "sim-node-1");
    const kubeSystem = await core.readNamespace({ name: "kube-system" });
    assert.equal(kubeSystem.metadata?.uid, "cluster-uid-1");
  });
});

Deno.test("CustomObjectsApi reads a composition.krateo.io Composition", async () => {
  await withSimulator(async (simulator) => {
    const stored = simulator.putObject({
      apiVersion: "composition.krateo.io/v1alpha1",
      kind: "Composition",
      metadata: { name: "shop", namespace: "apps", labels: { team: "a" } },
      spec: { chart: "shop" },
    });
    const api = toKubeConfig(simulator).makeApiClient(CustomObjectsApi);
    const read = await api.getNamespacedCustomObject({
      group: "composition.krateo.io",
      version: "v1alpha1",
      namespace: "apps",
      plural: "compositions",
      name: "shop",
    });
    assert.deepEqual(read, stored);
    assert.deepEqual(read.spec, { chart: "shop" });
  });
});

Deno.test("GET with Accept PartialObjectMetadata answers the metadata only, for core, apps and custom kinds", async () => {
  await withSimulator(async (simulator) => {
    const pod = simulator.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "web-0",
        namespace: "shop",
        labels: { app: "web" },
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "web-1",
          uid: "rs-uid",
          controller: true,
        }],
        managedFields: [{ manager: "kubelet" }],
      },
      spec: { nodeName: "n1" },
    });
    simulator.putObject({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "web-1", namespace: "shop" } });
    simulator.putObject({
      apiVersion: "composition.krateo.io/v1alpha1",
      kind: "Composition",
      metadata: { name: "c", namespace: "shop" },
    });
    const get = async (path: string) => {
      const response = await fetch(`${simulator.url}${path}`, { headers: { accept: METADATA_ACCEPT } });
      assert.equal(response.status, 200);
      return await response.json();
    };
    const { managedFields: _, ...metadata } = pod.metadata;
    assert.deepEqual(await get("/api/v1/namespaces/shop/pods/web-0"), {
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
      metadata,
    });
    assert.equal((await get("/apis/apps/v1/namespaces/shop/replicasets/web-1")).kind, "PartialObjectMetadata");
    const composition = await get("/apis/composition.krateo.io/v1alpha1/namespaces/shop/compositions/c");
    assert.deepEqual([composition.kind, composition.metadata.name], ["PartialObjectMetadata", "c"]);
    const missing = await fetch(`${simulator.url}/api/v1/namespaces/shop/pods/none`, {
      headers: { accept: METADATA_ACCEPT },
    });
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "none" not found',
      reason: "NotFound",
      details: { name: "none", kind: "pods" }, // no group for the core group, as the API server answers
      code: 404,
    });
  });
});

Deno.test("putObject of an unknown kind serves it under a guessed plural", async () => {
  await withSimulator(async (simulator) => {
    simulator.putObject({ apiVersion: "example.io/v1", kind: "Policy", metadata: { name: "p1", namespace: "x" } });
    const response = await fetch(`${simulator.url}/apis/example.io/v1/namespaces/x/policies/p1`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).metadata.name, "p1");
  });
});

Deno.test("CoordinationV1Api deletes a Lease, and replacing a missing Lease answers 404", async () => {
  await withSimulator(async (simulator) => {
    const api = toKubeConfig(simulator).makeApiClient(CoordinationV1Api);
    await api.createNamespacedLease({ namespace: "ops", body: lease("relay-a") });
    await api.deleteNamespacedLease({ namespace: "ops", name: "relay" });
    await assert.rejects(api.readNamespacedLease({ namespace: "ops", name: "relay" }), expectApiError(404, "NotFound"));
    await assert.rejects(
      api.replaceNamespacedLease({ namespace: "ops", name: "relay", body: lease("relay-b") }),
      expectApiError(404, "NotFound"),
    );
  });
});

Deno.test("POST of an object whose name the API server refuses answers 422 Invalid with the cause", async () => {
  const simulator = await startSimulator();
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${simulator.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const lease = await post("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "Not_Valid" },
    });
    const status = await lease.json();
    assert.equal(lease.status, 422);
    assert.equal(status.reason, "Invalid");
    assert.deepEqual(
      { ...status.details, causes: status.details.causes.map((c: { field: string }) => c.field) },
      { name: "Not_Valid", group: "coordination.k8s.io", kind: "Lease", causes: ["metadata.name"] },
    );
    // A dot is fine in an object name but not in a namespace name (an RFC 1123 label).
    const dotted = await post("/api/v1/namespaces/default/pods", { metadata: { name: "web.1" } });
    assert.equal(dotted.status, 201);
    await dotted.body?.cancel();
    const namespace = await post("/api/v1/namespaces", { metadata: { name: "team.a" } });
    assert.equal(namespace.status, 422);
    assert.equal((await namespace.json()).details.kind, "Namespace");
  } finally {
    await simulator.close();
  }
});

Deno.test("an injected 403 names the resource and object in its details, as RBAC's refusal does", async () => {
  const simulator = await startSimulator();
  try {
    simulator.injectErrors({ pathPattern: /leases/, status: 403, times: 2 });
    const one = await fetch(`${simulator.url}/apis/coordination.k8s.io/v1/namespaces/x/leases/leader`);
    assert.deepEqual((await one.json()).details, { name: "leader", group: "coordination.k8s.io", kind: "leases" });
    const list = await fetch(`${simulator.url}/apis/coordination.k8s.io/v1/leases`);
    assert.deepEqual((await list.json()).details, { group: "coordination.k8s.io", kind: "leases" });
    simulator.injectErrors({ pathPattern: /events/, status: 503, times: 1 });
    const unavailable = await fetch(`${simulator.url}/api/v1/events`);
    assert.equal("details" in await unavailable.json(), false);
  } finally {
    await simulator.close();
  }
});
