/**
 * deploy/: every kustomization renders with `kubectl kustomize`, every object passes the Kubernetes API schemas,
 * and every reference between the objects of an install resolves.
 */
import assert from "node:assert/strict";
import { DEFAULT_LIMITS } from "../../shared/contract/limits.ts";
import { findSchemaProblems } from "./kube_schema.ts";
import {
  findObject,
  KUBECTL,
  type KubeObject,
  listInstallable,
  listKustomizations,
  renderKustomization,
} from "./render.ts";
import { allContainers, findComponent, listWorkloads, readData, resolveEnv } from "./workloads.ts";
import { listOperatorSecrets, renderInstall, SECRET_NAMES } from "./secret_step.ts";

const ignore = KUBECTL === null;

Deno.test("deploy/ holds the bases, overlays, the multi-cluster and the CloudNativePG examples", () => {
  const expected = [
    "deploy/base/handler",
    "deploy/base/relay",
    "deploy/examples/cloudnativepg",
    "deploy/examples/multi-cluster/cluster-a",
    "deploy/examples/multi-cluster/cluster-b",
    "deploy/examples/multi-cluster/hosted-handler",
    "deploy/overlays/relay-deployment",
    "deploy/overlays/single-cluster",
  ];
  assert.deepEqual(listKustomizations().filter((dir) => expected.includes(dir)), expected);
});

for (const dir of listKustomizations()) {
  Deno.test({
    name: `${dir} renders and every object passes the Kubernetes API schemas`,
    ignore,
    fn: async () => {
      const objects = await renderKustomization(KUBECTL!, dir);
      assert.ok(objects.length > 0, `${dir} rendered no object`);
      assert.deepEqual(objects.flatMap(findSchemaProblems), []);
    },
  });
}

/** Every name one object of the install refers to, and whether the install defines it. */
function findDanglingReferences(objects: KubeObject[]): string[] {
  const has = (kind: string, name: string, namespace?: string) =>
    objects.some((o) =>
      o.kind === kind && o.metadata.name === name && (!namespace || o.metadata.namespace === namespace)
    );
  const missing: string[] = [];
  const expect = (from: KubeObject, kind: string, name: string, namespace?: string) => {
    if (!has(kind, name, namespace)) missing.push(`${from.kind}/${from.metadata.name} -> ${kind}/${name}`);
  };
  for (const { object, pod } of listWorkloads(objects)) {
    if (pod.serviceAccountName) expect(object, "ServiceAccount", pod.serviceAccountName);
    for (const volume of pod.volumes ?? []) {
      if (volume.secret) expect(object, "Secret", volume.secret.secretName);
      if (volume.configMap) expect(object, "ConfigMap", volume.configMap.name);
    }
    for (const container of allContainers(pod)) {
      for (const from of container.envFrom ?? []) {
        if (from.configMapRef) expect(object, "ConfigMap", from.configMapRef.name);
        if (from.secretRef) expect(object, "Secret", from.secretRef.name);
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef ?? variable.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        const kind = variable.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap";
        expect(object, kind, ref.name);
        if (has(kind, ref.name) && readData(objects, kind, ref.name)[ref.key] === undefined) {
          missing.push(`${object.kind}/${object.metadata.name} -> ${kind}/${ref.name} key ${ref.key}`);
        }
      }
    }
  }
  for (const object of objects) {
    const spec = object.spec as Record<string, never> | undefined;
    if (object.kind === "HorizontalPodAutoscaler") {
      const target = (spec as unknown as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
      expect(object, target.kind, target.name);
    }
    if (object.kind === "RoleBinding" || object.kind === "ClusterRoleBinding") {
      const binding = object as unknown as {
        roleRef: { kind: string; name: string };
        subjects: { kind: string; name: string; namespace?: string }[];
      };
      expect(object, binding.roleRef.kind, binding.roleRef.name);
      for (const subject of binding.subjects) {
        if (subject.kind === "ServiceAccount") {
          expect(object, "ServiceAccount", subject.name, subject.namespace ?? object.metadata.namespace);
        }
      }
    }
    if (object.kind === "Ingress") {
      for (
        const rule
          of (spec as unknown as { rules: { http: { paths: { backend: { service: { name: string } } }[] } }[] }).rules
      ) {
        for (const path of rule.http.paths) expect(object, "Service", path.backend.service.name);
      }
    }
  }
  return missing;
}

/** Pod label sets of the install's workloads that `selector` matches. */
function countMatchingWorkloads(objects: KubeObject[], selector: Record<string, string>): number {
  return listWorkloads(objects).filter((w) => Object.entries(selector).every(([k, v]) => w.podLabels[k] === v)).length;
}

for (const dir of listInstallable()) {
  Deno.test({
    name: `${dir}: every ServiceAccount, Secret, ConfigMap, Service and role referred to is part of the install`,
    ignore,
    fn: async () => {
      assert.deepEqual(findDanglingReferences((await renderInstall(KUBECTL!, dir)).objects), []);
    },
  });

  Deno.test({
    name: `${dir}: applies no Secret (the Secret step makes them; the examples are never applied)`,
    ignore,
    fn: async () => {
      const objects = await renderKustomization(KUBECTL!, dir);
      assert.deepEqual(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name), []);
      const secretNames = findDanglingReferences(objects).filter((ref) => ref.includes("-> Secret/"))
        .map((ref) => ref.replace(/^.* -> Secret\/(\S+).*$/, "$1"));
      const known: string[] = [...Object.values(SECRET_NAMES), ...listOperatorSecrets(objects)];
      assert.deepEqual(secretNames.filter((name) => !known.includes(name)), []);
    },
  });

  Deno.test({
    name: `${dir}: every selector of a Service, PDB and NetworkPolicy selects one workload`,
    ignore,
    fn: async () => {
      const objects = await renderKustomization(KUBECTL!, dir);
      const counts = objects.flatMap((object) => {
        const spec = object.spec as Record<string, unknown>;
        const selector = object.kind === "Service"
          ? spec.selector
          : object.kind === "PodDisruptionBudget"
          ? (spec.selector as { matchLabels: unknown }).matchLabels
          : object.kind === "NetworkPolicy"
          ? (spec.podSelector as { matchLabels: unknown }).matchLabels
          : undefined;
        if (!selector) return [];
        return [
          `${object.kind}/${object.metadata.name}=${
            countMatchingWorkloads(objects, selector as Record<string, string>)
          }`,
        ];
      });
      assert.deepEqual(counts.filter((count) => !count.endsWith("=1")), []);
    },
  });

  Deno.test({
    name: `${dir}: every namespaced object is in a namespace`,
    ignore,
    fn: async () => {
      const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);
      const objects = await renderKustomization(KUBECTL!, dir);
      const unplaced = objects.filter((o) => !clusterScoped.has(o.kind) && !o.metadata.namespace);
      assert.deepEqual(unplaced.map((o) => `${o.kind}/${o.metadata.name}`), []);
    },
  });
}

Deno.test({
  name: "deploy/overlays/single-cluster runs the relay as a DaemonSet on the labelled nodes and two handlers",
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, "deploy/overlays/single-cluster");
    const relay = findComponent(objects, "relay");
    assert.equal(relay.object.kind, "DaemonSet");
    assert.deepEqual(relay.pod.nodeSelector, { "events-ingester/relay": "true" });
    const handler = findComponent(objects, "handler");
    assert.equal(handler.object.kind, "Deployment");
    assert.equal((handler.object.spec as { replicas: number }).replicas, 2);
    const hpa = findObject(objects, "HorizontalPodAutoscaler", "events-ingester-handler").spec as Record<
      string,
      number
    >;
    assert.deepEqual([hpa.minReplicas, hpa.maxReplicas], [2, 10]);
    const pdb = findObject(objects, "PodDisruptionBudget", "events-ingester-handler").spec as Record<string, number>;
    assert.equal(pdb.minAvailable, 1);
    // No retention is written: unset, the handler keeps 30 days on a table it creates and drops nothing on one it
    // adopts, so pointing the overlay at the Krateo stack's table cannot drop that stack's partitions.
    const settings = resolveEnv(objects, { ...handler.pod.containers[0]!, env: [] }).values;
    assert.equal("RETENTION_DAYS" in settings, false, JSON.stringify(settings));
  },
});

Deno.test({
  name: "deploy/overlays/relay-deployment runs the relay as a two-replica Deployment on two different nodes",
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, "deploy/overlays/relay-deployment");
    assert.equal(objects.filter((o) => o.kind === "DaemonSet").length, 0);
    const relay = findComponent(objects, "relay");
    assert.equal(relay.object.kind, "Deployment");
    const spec = relay.object.spec as Record<string, unknown>;
    assert.equal(spec.replicas, 2);
    assert.equal(spec.updateStrategy, undefined);
    assert.equal(relay.pod.nodeSelector, undefined);
    const pdb = findObject(objects, "PodDisruptionBudget", "events-ingester-relay").spec as Record<string, number>;
    assert.equal(pdb.minAvailable, 1);
    const affinity = (relay.pod as unknown as {
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { topologyKey: string }[] } };
    }).affinity;
    assert.equal(
      affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]!.topologyKey,
      "kubernetes.io/hostname",
    );
  },
});

Deno.test({
  name: "deploy/ Ingress serves /v1/ over TLS with a body limit above the handler's default BODY_BYTES_MAX",
  ignore,
  fn: async () => {
    for (const dir of ["deploy/overlays/single-cluster", "deploy/examples/multi-cluster/hosted-handler"]) {
      const ingress = findObject(await renderKustomization(KUBECTL!, dir), "Ingress", "events-ingester-handler");
      const spec = ingress.spec as {
        tls: { hosts: string[]; secretName: string }[];
        rules: { host: string; http: { paths: { path: string }[] } }[];
      };
      assert.deepEqual(spec.tls, [{ hosts: ["events-ingester.example.com"], secretName: "events-ingester-tls" }]);
      assert.deepEqual(spec.rules.map((r) => [r.host, r.http.paths.map((p) => p.path)]), [[
        "events-ingester.example.com",
        ["/v1/"],
      ]]);
      const bodySize = ingress.metadata.annotations?.["nginx.ingress.kubernetes.io/proxy-body-size"] ?? "";
      assert.equal(bodySize, "9m");
      assert.ok(9 * 1024 * 1024 > DEFAULT_LIMITS.bodyBytesMax, `${bodySize} is below BODY_BYTES_MAX`);
    }
  },
});
