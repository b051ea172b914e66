import assert from "node:assert/strict";
import { probeKubeconfigCluster, startDevCluster } from "../../../relay/simulator/dev_cluster.ts";
import { startSimulator } from "../../../relay/simulator/simulator.ts";

Deno.test("probeKubeconfigCluster answers the server of a kubeconfig whose API server answers", async () => {
  const simulator = await startSimulator();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config`, simulator.kubeconfig());
    assert.equal(
      await probeKubeconfigCluster({ kubeconfigPath: `${dir}/config`, probeTimeoutMs: 2_000 }),
      simulator.url,
    );
  } finally {
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probeKubeconfigCluster answers undefined for a missing kubeconfig or a server that is down", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await probeKubeconfigCluster({ kubeconfigPath: `${dir}/absent`, probeTimeoutMs: 500 }), undefined);
    const simulator = await startSimulator();
    await Deno.writeTextFile(`${dir}/config`, simulator.kubeconfig());
    await simulator.close();
    assert.equal(await probeKubeconfigCluster({ kubeconfigPath: `${dir}/config`, probeTimeoutMs: 500 }), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startDevCluster starts the simulator with its scenario when no cluster answers", async () => {
  const dir = await Deno.makeTempDir();
  const cluster = await startDevCluster({
    kubeconfigPath: undefined,
    simulatorKubeconfigPath: `${dir}/simulator.kubeconfig`,
    probeTimeoutMs: 500,
  });
  try {
    assert.equal(cluster.kind, "simulator");
    const kubeconfig = await Deno.readTextFile(`${dir}/simulator.kubeconfig`);
    assert.ok(kubeconfig.includes(cluster.server), "the kubeconfig names the simulator");
    const response = await fetch(`${cluster.server}/api/v1/events`);
    const list = await response.json();
    assert.equal(response.status, 200);
    assert.ok(list.items.length >= 1, "the scenario created its first events");
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
