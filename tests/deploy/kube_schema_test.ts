import assert from "node:assert/strict";
import { findSchemaProblems } from "./kube_schema.ts";
import type { KubeObject } from "./render.ts";

function deployment(container: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "d" },
    spec: {
      selector: { matchLabels: { app: "d" } },
      template: {
        metadata: { labels: { app: "d" } },
        spec: { containers: [{ name: "c", image: "i:1", ...container }] },
      },
    },
  };
}

Deno.test("findSchemaProblems accepts a valid Deployment", () => {
  assert.deepEqual(findSchemaProblems(deployment({ ports: [{ containerPort: 80 }] })), []);
});

Deno.test("findSchemaProblems reports a value of the wrong type", () => {
  assert.deepEqual(findSchemaProblems(deployment({ ports: [{ containerPort: "80" }] })), [
    "Deployment/d /spec/template/spec/containers/0/ports/0/containerPort: must be integer",
  ]);
});

Deno.test("findSchemaProblems reports a misspelt field", () => {
  assert.deepEqual(findSchemaProblems(deployment({ readinesProbe: { httpGet: { path: "/readyz", port: 80 } } })), [
    "Deployment/d /spec/template/spec/containers/0/readinesProbe: is not an API field",
  ]);
});

Deno.test("findSchemaProblems reports a missing required field", () => {
  const object = deployment({});
  delete (object.spec as Record<string, unknown>).selector;
  assert.deepEqual(findSchemaProblems(object), ["Deployment/d /spec: must have required property selector"]);
});

Deno.test("findSchemaProblems refuses a kind it has no schema for", () => {
  const object: KubeObject = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } };
  assert.deepEqual(findSchemaProblems(object), [
    "Widget/w: example.com/v1 Widget is not a kind deploy/ is validated for",
  ]);
});
