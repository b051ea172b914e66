import assert from "node:assert/strict";
import { KubeConfig } from "@kubernetes/client-node";
import { toKubeconfig } from "../../../relay/simulator/kubeconfig.ts";

Deno.test("toKubeconfig makes a plain-http kubeconfig that client-node loads, with skipTLSVerify", () => {
  const config = new KubeConfig();
  config.loadFromString(toKubeconfig("http://127.0.0.1:4321", { namespace: "shop" }));
  assert.equal(config.getCurrentContext(), "simulator");
  const cluster = config.getCurrentCluster();
  assert.equal(cluster?.server, "http://127.0.0.1:4321");
  assert.equal(cluster?.skipTLSVerify, true);
  assert.equal(config.getContextObject("simulator")?.namespace, "shop");
  assert.equal(config.getCurrentUser()?.token, "simulator");
});

Deno.test("toKubeconfig without a namespace leaves the context's namespace unset", () => {
  const config = new KubeConfig();
  config.loadFromString(toKubeconfig("http://127.0.0.1:4321"));
  assert.equal(config.getContextObject("simulator")?.namespace, undefined);
});
