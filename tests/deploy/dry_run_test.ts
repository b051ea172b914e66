/**
 * Every kustomization under deploy/ (found by walking the folder, so a new one is covered without editing this file)
 * and the Helm chart with each example values file are sent to a real kube-apiserver with
 * `kubectl apply --dry-run=server --validate=strict`: the server's OpenAPI schemas (unknown and duplicate fields
 * refused), defaulting and admission check every object, and nothing is stored.
 *
 * Objects of CRDs this repository does not ship are not sent (see SKIPPED_GROUPS); every other kind is built in.
 */
import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { type ControlPlane, controlPlaneTest } from "../support/control_plane.ts";
import { CHART, listExampleValues, renderChart } from "./helm.ts";
import { type KubeObject, listKustomizations, parseManifests, REPO_ROOT } from "./render.ts";

/**
 * API groups whose objects are left out of the dry run, with the reason. The CloudNativePG CRDs (Cluster, Pooler in
 * deploy/examples/cloudnativepg) are the operator's, not part of this repository; tests/deploy/cnpg_schema.ts checks
 * those objects against the CRD's field names, enums and required fields instead.
 */
export const SKIPPED_GROUPS: Record<string, string> = {
  "postgresql.cnpg.io": "CloudNativePG's CRDs are not shipped here; checked by tests/deploy/cnpg_schema.ts",
};

/** The API group of an apiVersion (`""` for the core group). */
function toGroup(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}

/** `kind/namespace/name` of an object, for comparing what was sent with what the server answered. */
function toKey(object: KubeObject, defaultNamespace: string, clusterScoped: Set<string>): string {
  const namespace = clusterScoped.has(object.kind) ? "" : object.metadata.namespace ?? defaultNamespace;
  return `${object.kind}/${namespace}/${object.metadata.name}`;
}

/** The kinds the server reports as not namespaced, from its discovery documents. */
async function listClusterScopedKinds(plane: ControlPlane): Promise<Set<string>> {
  const output = await plane.kubectl(["api-resources", "--namespaced=false", "--output=wide", "--no-headers"]);
  const kinds = new Set<string>();
  for (const line of output.split("\n").filter((line) => line.trim() !== "")) {
    // NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES: KIND is the column after "false".
    const columns = line.trim().split(/\s+/);
    const at = columns.indexOf("false");
    if (at === -1 || !columns[at + 1]) throw new Error(`Cannot parse an api-resources line: ${line}`);
    kinds.add(columns[at + 1]!);
  }
  return kinds;
}

/**
 * Creates (for real, with `kubectl apply` so later applies find their last-applied annotation) every namespace the
 * objects live in, which a dry run of namespaced objects needs.
 */
async function createNamespaces(plane: ControlPlane, objects: KubeObject[]): Promise<void> {
  const names = new Set<string>();
  for (const object of objects) {
    if (object.kind === "Namespace") names.add(object.metadata.name);
    if (object.metadata.namespace) names.add(object.metadata.namespace);
  }
  const namespaces = [...names].map((name) => yaml.dump({ apiVersion: "v1", kind: "Namespace", metadata: { name } }));
  if (namespaces.length > 0) await plane.kubectl(["apply", "--filename=-"], { stdin: namespaces.join("---\n") });
}

/** The objects with `namespace` set on every namespaced one that names none (as `kubectl apply -n` would). */
function toNamespaced(objects: KubeObject[], namespace: string, clusterScoped: Set<string>): KubeObject[] {
  return objects.map((object) =>
    clusterScoped.has(object.kind) || object.metadata.namespace
      ? object
      : { ...object, metadata: { ...object.metadata, namespace } }
  );
}

/**
 * Sends `objects` to the server with a strict server-side dry run and returns the objects the server answered with
 * (defaulted, admitted, not stored). Throws with kubectl's message when the server refuses one.
 */
async function applyDryRun(plane: ControlPlane, objects: KubeObject[]): Promise<KubeObject[]> {
  const stdin = objects.map((object) => yaml.dump(object)).join("---\n");
  const output = await plane.kubectl(
    ["apply", "--dry-run=server", "--validate=strict", "--output=json", "--filename=-"],
    { stdin },
  );
  const answer = JSON.parse(output) as KubeObject & { items?: KubeObject[] };
  return answer.kind === "List" ? answer.items ?? [] : [answer];
}

/** Dry-runs one rendered source and checks the server answered with exactly the objects sent. */
async function checkDryRun(
  plane: ControlPlane,
  context: { source: string; objects: KubeObject[]; namespace: string; clusterScoped: Set<string> },
): Promise<void> {
  const kept = context.objects.filter((object) => !(toGroup(object.apiVersion) in SKIPPED_GROUPS));
  const sent = toNamespaced(kept, context.namespace, context.clusterScoped);
  assert.ok(sent.length > 0, `${context.source} renders no object to send`);
  await createNamespaces(plane, sent);
  let answered: KubeObject[];
  try {
    answered = await applyDryRun(plane, sent);
  } catch (error) {
    throw new Error(`Cannot dry-run ${context.source}: ${(error as Error).message}`, { cause: error });
  }
  const keys = (list: KubeObject[]) => list.map((o) => toKey(o, context.namespace, context.clusterScoped)).sort();
  assert.deepEqual(keys(answered), keys(sent), `${context.source}: the server answered other objects than sent`);
  for (const object of answered) {
    // A server answer, not an echo: the server assigned a uid and defaulted the objects (e.g. Deployment strategy).
    assert.match(String((object.metadata as { uid?: string }).uid), /^[0-9a-f-]{36}$/, `${context.source} uid`);
  }
}

/** The kustomizations rendered by the control plane's kubectl (the same kustomize an operator's kubectl runs). */
async function renderWithKubectl(plane: ControlPlane, dir: string): Promise<KubeObject[]> {
  return parseManifests(await plane.kubectl(["kustomize", `${REPO_ROOT}${dir}`]));
}

controlPlaneTest(
  "deploy/ manifests pass a strict server-side dry run on a real kube-apiserver",
  {},
  async (plane, t) => {
    const clusterScoped = await listClusterScopedKinds(plane);
    assert.ok(clusterScoped.has("Namespace") && clusterScoped.has("ClusterRole"), "discovery lists cluster kinds");
    assert.ok(!clusterScoped.has("Deployment"), "Deployment is namespaced");

    const kustomizations = listKustomizations();
    // The walk finds the bases, the overlays and the examples (at least the ones present when this was written).
    for (const dir of ["deploy/base/relay", "deploy/base/handler", "deploy/overlays/single-cluster"]) {
      assert.ok(kustomizations.includes(dir), `${dir} is found`);
    }
    for (const dir of kustomizations) {
      await t.step(`kubectl apply --dry-run=server -k ${dir}`, async () => {
        const objects = await renderWithKubectl(plane, dir);
        await checkDryRun(plane, { source: dir, objects, namespace: "default", clusterScoped });
      });
    }

    await t.step("the server refuses a manifest with an unknown field (the dry run can fail)", async () => {
      const objects = await renderWithKubectl(plane, "deploy/base/relay");
      const daemonSet = objects.find((object) => object.kind === "DaemonSet")!;
      (daemonSet.spec as Record<string, unknown>).replicasTypo = 2;
      await assert.rejects(
        () => checkDryRun(plane, { source: "broken relay", objects, namespace: "default", clusterScoped }),
        /unknown field "spec\.replicasTypo"/,
      );
    });

    await t.step("objects of CRDs not shipped here are the only ones left out", async () => {
      const objects = await renderWithKubectl(plane, "deploy/examples/cloudnativepg");
      const skipped = objects.filter((object) => toGroup(object.apiVersion) in SKIPPED_GROUPS);
      assert.deepEqual(skipped.map((object) => object.kind).sort(), ["Cluster", "Pooler"]);
    });

    // helm is one of the control plane tools (build_tools.sh builds it), so it is there whenever this test runs.
    for (const valuesFile of listExampleValues()) {
      await t.step(`helm template ${CHART} -f ${valuesFile} | kubectl apply --dry-run=server`, async () => {
        const objects = await renderChart({ valuesFiles: [valuesFile] });
        await checkDryRun(plane, {
          source: `${CHART} ${valuesFile}`,
          objects,
          namespace: "events-ingester",
          clusterScoped,
        });
      });
    }
  },
);
