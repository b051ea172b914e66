import assert from "node:assert/strict";
import { parseCurrentContext, readDevClusterChoice } from "../../../handler/dev/cluster_choice.ts";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
  - name: prod-eu
    cluster:
      server: https://prod.example:6443
  - name: kind
    cluster:
      server: https://127.0.0.1:39000
contexts:
  - name: admin@prod
    context:
      cluster: prod-eu
      user: admin
current-context: admin@prod
`;

Deno.test("readDevClusterChoice picks the simulator when DEV_CLUSTER is unset, whatever the kubeconfig says", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config`, KUBECONFIG);
    assert.deepEqual(await readDevClusterChoice({ KUBECONFIG: `${dir}/config` }), { kind: "simulator" });
    assert.deepEqual(await readDevClusterChoice({ DEV_CLUSTER: "simulator" }), { kind: "simulator" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readDevClusterChoice with DEV_CLUSTER=kubeconfig names the current context and its server", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config`, KUBECONFIG);
    assert.deepEqual(await readDevClusterChoice({ DEV_CLUSTER: "kubeconfig", KUBECONFIG: `:${dir}/config:/x` }), {
      kind: "kubeconfig",
      kubeconfigPath: `${dir}/config`,
      context: "admin@prod",
      server: "https://prod.example:6443",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readDevClusterChoice refuses another DEV_CLUSTER value and a missing kubeconfig with TypeError", async () => {
  await assert.rejects(readDevClusterChoice({ DEV_CLUSTER: "prod" }), {
    name: "TypeError",
    message: 'Cannot choose the dev cluster: DEV_CLUSTER is "prod", not simulator or kubeconfig',
  });
  await assert.rejects(readDevClusterChoice({ DEV_CLUSTER: "kubeconfig", KUBECONFIG: "/nonexistent/config" }), {
    name: "TypeError",
    message: "Cannot use DEV_CLUSTER=kubeconfig: cannot read /nonexistent/config",
  });
});

Deno.test("parseCurrentContext refuses a kubeconfig without a current context or whose context has no server", () => {
  assert.throws(() => parseCurrentContext(KUBECONFIG.replace("current-context: admin@prod", "")), {
    name: "SyntaxError",
    message: "it names no current-context",
  });
  assert.throws(() => parseCurrentContext(KUBECONFIG.replace("cluster: prod-eu\n", "cluster: gone\n")), {
    name: "SyntaxError",
    message: 'its current context "admin@prod" names no cluster with a server',
  });
});
