import assert from "node:assert/strict";
import { detectClusterName, toDetectedClusterName } from "../../../relay/kube/cluster_name.ts";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { startSimulator } from "../../../relay/simulator/simulator.ts";
import { isClusterName } from "../../../shared/contract/record_parser.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

const UID = "6F1C2E0A-3B1D-4C8E-9A57-0E2D4B9C1F00";

Deno.test("toDetectedClusterName names the cluster after the kube-system uid, a valid cluster name", () => {
  const name = toDetectedClusterName(UID);
  assert.equal(name, "cluster-6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00");
  assert.equal(isClusterName(name), true);
});

Deno.test("detectClusterName reads kube-system from the API, retrying a failure, and is the same every time", async () => {
  const simulator = await startSimulator({ clusterUid: UID.toLowerCase() });
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
  const kube = await createKubeClient({ connection: { mode: "kubeconfig", path: `${dir}/kubeconfig` } });
  try {
    simulator.injectErrors({ method: "GET", pathPattern: /\/namespaces\/kube-system$/, status: 503, times: 2 });
    const options = {
      kube,
      logger: createLogger({ isDebug: false, write: () => {} }),
      signal: new AbortController().signal,
      backoffMaxMs: 20,
    };
    assert.equal(await detectClusterName(options), "cluster-6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00");
    assert.equal(await detectClusterName(options), "cluster-6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00");
    assert.equal(simulator.requestLog.filter((r) => r.path === "/api/v1/namespaces/kube-system").length, 4);
  } finally {
    kube.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});
