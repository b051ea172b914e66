/**
 * Enrichment through real metadata GETs: a Pod of a ReplicaSet of a Deployment owned by a custom resource of the
 * composition group (registered with a CRD). Then one GET permission is taken from the ClusterRole: the event is
 * still stored, with the failure code, and the failure is counted on the relay's /metrics.
 */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { waitUntil } from "../../support/pipeline.ts";
import {
  applyYaml,
  createEvent,
  createNamespace,
  readRelayMetric,
  renderRelayRbac,
  waitUntilReady,
  withoutPermission,
  withRealPipeline,
} from "../../support/real_cluster.ts";
import { COMPOSITION_GROUP } from "../../../relay/pipeline/enricher.ts";

const NAMESPACE = "shop";

const CRD = JSON.stringify({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `compositions.${COMPOSITION_GROUP}` },
  spec: {
    group: COMPOSITION_GROUP,
    scope: "Namespaced",
    names: { plural: "compositions", singular: "composition", kind: "Composition" },
    versions: [{
      name: "v1alpha1",
      served: true,
      storage: true,
      schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
    }],
  },
});

interface Meta {
  metadata: { uid: string; name: string; labels?: Record<string, string> };
}

controlPlaneTest(
  "relay enriches through real metadata GETs: labels, owner chain up to a composition, and FORBIDDEN when refused",
  { hasControllerManager: true },
  async (plane) => {
    await withRealPipeline(plane, async (pipeline) => {
      await createNamespace(plane, NAMESPACE);
      await plane.kubectl(["apply", "--filename=-"], { stdin: CRD });
      await plane.kubectl(["wait", "--for=condition=Established", `crd/compositions.${COMPOSITION_GROUP}`]);
      const composition = await plane.apiJson<Meta>(
        `/apis/${COMPOSITION_GROUP}/v1alpha1/namespaces/${NAMESPACE}/compositions`,
        {
          method: "POST",
          body: JSON.stringify({
            apiVersion: `${COMPOSITION_GROUP}/v1alpha1`,
            kind: "Composition",
            metadata: { name: "storefront" },
          }),
        },
      );
      const compositionRef = {
        apiVersion: `${COMPOSITION_GROUP}/v1alpha1`,
        kind: "Composition",
        name: "storefront",
        uid: composition.metadata.uid,
      };
      const deployment = await plane.apiJson<Meta>(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, {
        method: "POST",
        body: JSON.stringify({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", ownerReferences: [{ ...compositionRef, controller: true }] },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web", tier: "front" } },
              spec: { containers: [{ name: "web", image: "registry.invalid/web:1" }] },
            },
          },
        }),
      });
      const pod = await (async () => {
        let found: Meta | undefined;
        await waitUntil("the ReplicaSet controller creates the Pod", async () => {
          const pods = await plane.apiJson<{ items: Meta[] }>(`/api/v1/namespaces/${NAMESPACE}/pods`);
          found = pods.items[0];
          return found !== undefined;
        }, 60_000);
        return found!;
      })();
      const replicaSets = await plane.apiJson<{ items: Meta[] }>(`/apis/apps/v1/namespaces/${NAMESPACE}/replicasets`);
      const replicaSet = replicaSets.items[0]!;

      const relay = await pipeline.spawnRelay("relay-0");
      await waitUntilReady(relay);
      const podEvent = await createEvent(plane, NAMESPACE, "pod-event", {
        apiVersion: "v1",
        kind: "Pod",
        name: pod.metadata.name,
        uid: pod.metadata.uid,
      });
      await waitUntil(
        "the Pod's event is stored",
        async () => (await pipeline.storedRows()).some((row) => row.uid === podEvent.metadata.uid),
      );
      const row = (await pipeline.storedRows()).find((row) => row.uid === podEvent.metadata.uid)!;
      assert.deepEqual(row.involved.labels, pod.metadata.labels);
      assert.equal(row.involved.labels!.tier, "front");
      assert.deepEqual(row.involved.owners, [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet.metadata.name, uid: replicaSet.metadata.uid },
        { apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: deployment.metadata.uid },
        compositionRef,
      ]);
      assert.equal(row.involved.compositionId, composition.metadata.uid);
      assert.equal(row.composition_id, composition.metadata.uid);
      assert.equal(row.involved.enrichmentError, undefined);
      // The controllers' own events about the ReplicaSet and the Deployment lead to the same composition.
      await waitUntil("the controllers' events are stored", async () => {
        const reasons = (await pipeline.storedRows()).map((r) => r.reason);
        return reasons.includes("ScalingReplicaSet") && reasons.includes("SuccessfulCreate");
      }, 30_000);
      for (const stored of await pipeline.storedRows()) {
        if (stored.reason === "ScalingReplicaSet" || stored.reason === "SuccessfulCreate") {
          assert.equal(stored.composition_id, composition.metadata.uid, stored.reason);
        }
      }
      assert.equal(await readRelayMetric(relay, "events_ingester.relay.enrichment_failures"), 0);

      // Take `get` on pods away from the ClusterRole, exactly as an operator editing deploy/ would.
      const rbac = await renderRelayRbac(plane);
      await applyYaml(plane, withoutPermission(rbac, { kind: "ClusterRole", resource: "pods", verb: "get" }));
      const token = (await Deno.readTextFile(`${pipeline.serviceAccountDir}/token`)).trim();
      await waitUntil("the relay's account may no longer get Pods", async () => {
        const response = await plane.apiFetch(`/api/v1/namespaces/${NAMESPACE}/pods/${pod.metadata.name}`, { token });
        await response.body?.cancel();
        return response.status === 403;
      });
      const other = await plane.apiJson<Meta>(`/api/v1/namespaces/${NAMESPACE}/pods`, {
        method: "POST",
        body: JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "lonely", labels: { app: "lonely" } },
          spec: { containers: [{ name: "c", image: "registry.invalid/c:1" }] },
        }),
      });
      const refused = await createEvent(plane, NAMESPACE, "refused-event", {
        apiVersion: "v1",
        kind: "Pod",
        name: "lonely",
        uid: other.metadata.uid,
      });
      await waitUntil(
        "the event about the Pod it may not get is stored",
        async () => (await pipeline.storedRows()).some((row) => row.uid === refused.metadata.uid),
      );
      const refusedRow = (await pipeline.storedRows()).find((row) => row.uid === refused.metadata.uid)!;
      assert.equal(refusedRow.involved.enrichmentError, "FORBIDDEN");
      assert.equal(refusedRow.involved.labels, undefined);
      assert.equal(refusedRow.composition_id, null);
      await waitUntil(
        "the failure is counted",
        async () =>
          await readRelayMetric(relay, "events_ingester.relay.enrichment_failures", { code: "FORBIDDEN" }) === 1,
      );
    });
  },
);
