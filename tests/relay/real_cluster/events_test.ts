/**
 * The relay in the in-cluster configuration against a real kube-apiserver, with the controller-manager and the
 * scheduler writing Events of their own: every version the API server held is stored, once.
 */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { waitUntil } from "../../support/pipeline.ts";
import {
  assertStoredEqual,
  bumpEvent,
  collectEvents,
  createEvent,
  createNamespace,
  readHealth,
  withRealPipeline,
} from "../../support/real_cluster.ts";

const DEPLOYMENT = (namespace: string) =>
  JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", image: "registry.invalid/web:1" }] },
      },
    },
  });

controlPlaneTest(
  "relay in a pod's configuration stores every Event version of API clients and controllers, once",
  { hasControllerManager: true, hasScheduler: true },
  async (plane) => {
    await withRealPipeline(plane, async (pipeline) => {
      const collector = await collectEvents(plane);
      const relay = await pipeline.spawnRelay("relay-0");
      await waitUntil(
        "the relay is ready",
        async () => (await readHealth(relay, "/readyz").catch(() => ({ status: 0 }))).status === 200,
        30_000,
      );

      const namespaces = ["alpha", "beta", "gamma"];
      for (const namespace of namespaces) await createNamespace(plane, namespace);
      const created = [];
      for (const namespace of namespaces) {
        for (let i = 0; i < 5; i++) created.push(await createEvent(plane, namespace, `api-${i}`));
      }
      // Once these are stored the relay is past its first list: every later version reaches it through the watch
      // (a version written before the list is only seen in its latest form, by design).
      await waitUntil("the created events are stored", async () => {
        const rows = await pipeline.storedRows();
        return rows.filter((row) => row.reason === "Tested").length === created.length;
      });
      for (const event of created.slice(0, 6)) await bumpEvent(plane, await bumpEvent(plane, event));
      await plane.kubectl(["apply", "--filename=-"], { stdin: DEPLOYMENT("beta") });
      const wanted = ["ScalingReplicaSet", "SuccessfulCreate", "FailedScheduling"];
      await waitUntil("the controllers' Events are stored", async () => {
        const reasons = new Set((await pipeline.storedRows()).map((row) => row.reason));
        return wanted.every((reason) => reasons.has(reason));
      }, 60_000);
      await collector.stop();
      const expected = await collector.settled();
      // 15 created + 12 updates through the API, and the controllers' own.
      assert.ok(expected.length >= 27 + wanted.length, `${expected.length} versions`);
      await assertStoredEqual(pipeline, expected);
      const rows = await pipeline.storedRows();
      const modified = rows.filter((row) => row.reason === "Tested");
      assert.equal(modified.length, 27);
      const byReason = (reason: string) => rows.filter((row) => row.reason === reason).map((row) => row.resource_kind);
      assert.deepEqual([...new Set(byReason("ScalingReplicaSet"))], ["apps/v1.Deployment"]);
      assert.deepEqual([...new Set(byReason("SuccessfulCreate"))], ["apps/v1.ReplicaSet"]);
      assert.deepEqual([...new Set(byReason("FailedScheduling"))], ["v1.Pod"]);
      assert.deepEqual(await pipeline.gaps(), []);
      assert.equal((await readHealth(relay, "/readyz")).status, 200);
    });
  },
);
