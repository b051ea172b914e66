import assert from "node:assert/strict";
import { ApisApi, CoordinationV1Api, CoreApi, CoreV1Api, VersionApi } from "@kubernetes/client-node";
import { toKubeConfig, withSimulator } from "../kube_client_support.ts";

Deno.test("VersionApi reads the simulated server version", async () => {
  await withSimulator(async (simulator) => {
    const version = await toKubeConfig(simulator).makeApiClient(VersionApi).getCode();
    assert.deepEqual([version.major, version.minor, version.gitVersion], ["1", "31", "v1.31.0-simulator"]);
  });
});

Deno.test("CoreApi and ApisApi list the core version and the served groups", async () => {
  await withSimulator(async (simulator) => {
    const config = toKubeConfig(simulator);
    const core = await config.makeApiClient(CoreApi).getAPIVersions();
    assert.deepEqual(core.versions, ["v1"]);
    const groups = await config.makeApiClient(ApisApi).getAPIVersions();
    assert.deepEqual(groups.groups.map((g) => `${g.name} ${g.preferredVersion?.groupVersion}`), [
      "apps apps/v1",
      "coordination.k8s.io coordination.k8s.io/v1",
      "composition.krateo.io composition.krateo.io/v1alpha1",
    ]);
  });
});

Deno.test("getAPIResources maps kinds to resources and scopes", async () => {
  await withSimulator(async (simulator) => {
    const config = toKubeConfig(simulator);
    const core = await config.makeApiClient(CoreV1Api).getAPIResources();
    assert.equal(core.groupVersion, "v1");
    assert.deepEqual(core.resources.map((r) => `${r.kind}=${r.name} ${r.namespaced}`), [
      "Event=events true",
      "Pod=pods true",
      "Node=nodes false",
      "Namespace=namespaces false",
    ]);
    const coordination = await config.makeApiClient(CoordinationV1Api).getAPIResources();
    assert.deepEqual(coordination.resources.map((r) => [r.kind, r.name, r.verbs]), [
      ["Lease", "leases", ["create", "delete", "get", "list", "update"]],
    ]);
  });
});

Deno.test("discovery of /apis/<group>/<version> includes kinds added by putObject and 404s unknown versions", async () => {
  await withSimulator(async (simulator) => {
    simulator.putObject({
      apiVersion: "composition.krateo.io/v1-2-2",
      kind: "FireworksApp",
      metadata: { name: "f", namespace: "a" },
    });
    const response = await fetch(`${simulator.url}/apis/composition.krateo.io/v1-2-2`);
    const body = await response.json();
    assert.deepEqual(body.resources.map((r: { name: string; kind: string }) => `${r.kind}=${r.name}`), [
      "FireworksApp=fireworksapps",
    ]);
    const groups = await (await fetch(`${simulator.url}/apis`)).json();
    const krateo = groups.groups.find((g: { name: string }) => g.name === "composition.krateo.io");
    assert.deepEqual(krateo.versions.map((v: { version: string }) => v.version), ["v1alpha1", "v1-2-2"]);
    const missing = await fetch(`${simulator.url}/apis/composition.krateo.io/v9`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("paths outside the API answer 404 and malformed escapes 400, as Status objects", async () => {
  await withSimulator(async (simulator) => {
    const unknown = await fetch(`${simulator.url}/metrics`);
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "the server could not find the requested resource (/metrics)",
      reason: "NotFound",
      code: 404,
    });
    const malformed = await fetch(`${simulator.url}/api/v1/namespaces/%E0%A4%A/pods`);
    assert.equal(malformed.status, 400);
    assert.equal((await malformed.json()).reason, "BadRequest");
  });
});
