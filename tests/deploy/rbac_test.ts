/**
 * deploy/ RBAC: no wildcard anywhere, and the relay holds exactly what it needs.
 */
import assert from "node:assert/strict";
import { findObject, KUBECTL, type KubeObject, listKustomizations, renderKustomization } from "./render.ts";

const ignore = KUBECTL === null;

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function rulesOf(object: KubeObject): PolicyRule[] {
  return (object.rules ?? []) as PolicyRule[];
}

/** Each rule as `<groups>|<resources>|<names>|<verbs>` (lists joined by commas), for exact comparison. */
function toRuleLines(rules: PolicyRule[]): string[] {
  return rules.map((rule) =>
    [rule.apiGroups, rule.resources, rule.resourceNames ?? [], rule.verbs].map((list) => (list ?? []).join(",")).join(
      "|",
    )
  ).sort();
}

const ENRICHED_RULES = [
  "|pods,nodes,services||get",
  "apps|replicasets,deployments,statefulsets,daemonsets||get",
  "batch|jobs,cronjobs||get",
  "composition.krateo.io|compositions||get",
];

for (const dir of listKustomizations()) {
  Deno.test({
    name: `${dir}: no RBAC rule uses a wildcard or grants secrets, escalate, bind or impersonate`,
    ignore,
    fn: async () => {
      const objects = await renderKustomization(KUBECTL!, dir);
      const found: string[] = [];
      for (const object of objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole")) {
        assert.equal(object.aggregationRule, undefined, `${object.metadata.name} aggregates other roles`);
        for (const rule of rulesOf(object)) {
          const lists = [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames, rule.nonResourceURLs];
          if (lists.some((list) => list?.some((item) => item.includes("*")))) {
            found.push(`${object.metadata.name}: wildcard`);
          }
          if (rule.resources?.includes("secrets")) found.push(`${object.metadata.name}: secrets`);
          const risky = rule.verbs.filter((verb) => ["escalate", "bind", "impersonate"].includes(verb));
          if (risky.length > 0) found.push(`${object.metadata.name}: ${risky.join(",")}`);
          if (rule.nonResourceURLs) found.push(`${object.metadata.name}: nonResourceURLs`);
        }
      }
      assert.deepEqual(found, []);
    },
  });
}

Deno.test({
  name: "deploy/ relay ClusterRole lists and watches events and gets only the enriched kinds",
  ignore,
  fn: async () => {
    for (const dir of ["deploy/overlays/single-cluster", "deploy/examples/multi-cluster/cluster-a"]) {
      const role = findObject(await renderKustomization(KUBECTL!, dir), "ClusterRole", "events-ingester-relay");
      assert.deepEqual(toRuleLines(rulesOf(role)), ["|events||list,watch", ...ENRICHED_RULES].sort());
    }
  },
});

Deno.test({
  name: "deploy/ relay Role creates Leases and gets and updates only its own, in its own namespace",
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, "deploy/overlays/single-cluster");
    const role = findObject(objects, "Role", "events-ingester-relay-lease");
    assert.equal(role.metadata.namespace, "events-ingester");
    assert.deepEqual(
      toRuleLines(rulesOf(role)),
      [
        "coordination.k8s.io|leases||create",
        "coordination.k8s.io|leases|events-ingester-relay|get,update",
      ].sort(),
    );
    const binding = findObject(objects, "RoleBinding", "events-ingester-relay-lease");
    assert.equal(binding.metadata.namespace, "events-ingester");
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "events-ingester-relay", namespace: "events-ingester" },
    ]);
  },
});

Deno.test({
  name: "deploy/examples/multi-cluster/cluster-b reads events only in NAMESPACES and also enriches Argo Rollouts",
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, "deploy/examples/multi-cluster/cluster-b");
    const role = findObject(objects, "ClusterRole", "events-ingester-relay");
    assert.deepEqual(toRuleLines(rulesOf(role)), [...ENRICHED_RULES, "argoproj.io|rollouts||get"].sort());
    const bindings = objects.filter((o) =>
      o.kind === "RoleBinding" && o.metadata.name === "events-ingester-relay-events"
    );
    assert.deepEqual(bindings.map((b) => b.metadata.namespace).sort(), ["checkout", "payments"]);
    const eventsRole = findObject(objects, "ClusterRole", "events-ingester-relay-events");
    assert.deepEqual(toRuleLines(rulesOf(eventsRole)), ["|events||list,watch"]);
    const env = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("events-ingester-relay-env"));
    assert.equal((env?.data as Record<string, string>).NAMESPACES, "payments,checkout");
  },
});

Deno.test({
  name: "deploy/ handler pods get no Kubernetes API token",
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, "deploy/overlays/single-cluster");
    const account = findObject(objects, "ServiceAccount", "events-ingester-handler");
    assert.equal(account.automountServiceAccountToken, false);
    const bound = objects.filter((o) =>
      (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") &&
      (o.subjects as { name: string }[]).some((s) => s.name === "events-ingester-handler")
    );
    assert.deepEqual(bound, []);
  },
});
