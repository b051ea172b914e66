/**
 * kube_config_entries.ts against client-node's config_types.js, which it stands in for: the same entries give the
 * same Cluster, User and Context objects, and the same invalid entries the same error messages.
 */
import assert from "node:assert/strict";
import { newClusters, newContexts, newUsers } from "@kubernetes/client-node/dist/config_types.js";
import { toClusters, toContexts, toUsers } from "../../../relay/kube/kube_config_entries.ts";

/** Both functions' outcome on `input`: the value, or the error's message. */
function outcome(fn: (input: unknown) => unknown, input: unknown): { value?: unknown; error?: string } {
  try {
    return { value: fn(input) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function assertSame(ours: (input: unknown) => unknown, theirs: (input: unknown) => unknown, inputs: unknown[]) {
  for (const input of inputs) {
    assert.deepEqual(outcome(ours, input), outcome(theirs, input), JSON.stringify(input));
  }
}

const NOT_LISTS = [undefined, null, {}, "clusters", 3];

Deno.test("toClusters reads cluster entries as client-node's newClusters does", () => {
  assertSame(toClusters, newClusters, [
    ...NOT_LISTS,
    [],
    [{ name: "a", cluster: { server: "https://a.example:6443/" } }],
    [{ name: "a", cluster: { server: "https://a.example//" } }],
    [{
      name: "b",
      cluster: {
        server: "https://b.example",
        "certificate-authority-data": "Q0E=",
        "certificate-authority": "/ca.pem",
        "insecure-skip-tls-verify": true,
        "tls-server-name": "b.internal",
        "proxy-url": "http://proxy:3128",
      },
    }, { name: "c", cluster: { server: "http://c", "insecure-skip-tls-verify": "true" } }],
    [{ cluster: { server: "https://a" } }],
    [{ name: "a", cluster: { server: "https://a" } }, { name: "b" }],
    [{ name: "a", cluster: {} }],
    [{ name: "", cluster: { server: "https://a" } }],
  ]);
});

Deno.test("toUsers reads user entries as client-node's newUsers does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "from-file\n");
    assertSame(toUsers, newUsers, [
      ...NOT_LISTS,
      [{ name: "none" }],
      [{ name: "empty", user: {} }],
      [{ name: "token", user: { token: "t", "token-file": `${dir}/token` } }],
      [{ name: "file", user: { "token-file": `${dir}/token` } }],
      [{
        name: "all",
        user: {
          "client-certificate-data": "Q0VSVA==",
          "client-certificate": "/cert.pem",
          "client-key-data": "S0VZ",
          "client-key": "/key.pem",
          exec: { command: "x", apiVersion: "client.authentication.k8s.io/v1" },
          "auth-provider": { name: "oidc", config: { "id-token": "i" } },
          username: "u",
          password: "p",
          as: "someone",
        },
      }],
      [{ user: { token: "t" } }],
      [{ name: "a", user: {} }, { name: 0 }],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toContexts reads context entries as client-node's newContexts does", () => {
  assertSame(toContexts, newContexts, [
    ...NOT_LISTS,
    [{ name: "c", context: { cluster: "a", user: "u", namespace: "ns" } }],
    [{ name: "c", context: { cluster: "a", user: "", namespace: "" } }],
    [{ name: "c", context: { cluster: "a", extra: 1 } }],
    [{ context: { cluster: "a" } }],
    [{ name: "c" }],
    [{ name: "c", context: { user: "u" } }],
  ]);
});
