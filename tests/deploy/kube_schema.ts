/**
 * Test support: validates rendered objects against the Kubernetes API schemas, twice over.
 *
 * 1. `kubernetes-models` (the OpenAPI schemas of the Kubernetes API compiled to validators): types, enums, required
 *    fields, formats.
 * 2. The API types of `@kubernetes/client-node`: the object is decoded into them and encoded back; a field that
 *    does not survive is not part of the API (a misspelt or misplaced field, which the OpenAPI schemas allow and
 *    the API server would drop or refuse).
 *
 * CloudNativePG's Cluster and Pooler are checked structurally instead (cnpg_schema.ts).
 */
import * as k8s from "@kubernetes/client-node";
import * as yaml from "js-yaml";
import { isDeepStrictEqual } from "node:util";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { KubeObject } from "./render.ts";
import { findCnpgProblems } from "./cnpg_schema.ts";

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

/** The API kinds deploy/ may use, by `<apiVersion>/<kind>`. A kind not listed here fails validation. */
const MODELS: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ["v1/ConfigMap", ConfigMap],
  ["v1/Namespace", Namespace],
  ["v1/Secret", Secret],
  ["v1/Service", Service],
  ["v1/ServiceAccount", ServiceAccount],
  ["apps/v1/DaemonSet", DaemonSet],
  ["apps/v1/Deployment", Deployment],
  ["apps/v1/StatefulSet", StatefulSet],
  ["autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler],
  ["batch/v1/CronJob", CronJob],
  ["batch/v1/Job", Job],
  ["networking.k8s.io/v1/Ingress", Ingress],
  ["networking.k8s.io/v1/NetworkPolicy", NetworkPolicy],
  ["policy/v1/PodDisruptionBudget", PodDisruptionBudget],
  ["rbac.authorization.k8s.io/v1/ClusterRole", ClusterRole],
  ["rbac.authorization.k8s.io/v1/ClusterRoleBinding", ClusterRoleBinding],
  ["rbac.authorization.k8s.io/v1/Role", Role],
  ["rbac.authorization.k8s.io/v1/RoleBinding", RoleBinding],
]);

interface SchemaErrorDetail {
  instancePath?: string;
  message?: string;
}

/**
 * Every way `object` breaks the Kubernetes API schemas, one sentence each (`<kind>/<name> <path>: <problem>`);
 * empty when it is valid.
 */
export function findSchemaProblems(object: KubeObject): string[] {
  const label = `${object.kind}/${object.metadata?.name ?? "(no name)"}`;
  const cnpgProblems = findCnpgProblems(object);
  if (cnpgProblems !== null) return cnpgProblems;
  const Model = MODELS.get(`${object.apiVersion}/${object.kind}`);
  if (!Model) return [`${label}: ${object.apiVersion} ${object.kind} is not a kind deploy/ is validated for`];
  const problems: string[] = [];
  try {
    new Model(structuredClone(object) as never).validate();
  } catch (error) {
    const details = (error as { errors?: SchemaErrorDetail[] }).errors;
    if (!Array.isArray(details)) throw error;
    for (const detail of details) problems.push(`${label} ${detail.instancePath || "/"}: ${detail.message}`);
  }
  const decoded = yaml.load(k8s.dumpYaml(k8s.loadYaml(yaml.dump(object))));
  for (const path of findLostPaths(object, decoded, "")) problems.push(`${label} ${path}: is not an API field`);
  return problems;
}

/** Paths in `original` whose value is missing or different in `decoded`, as JSON pointers. */
function findLostPaths(original: unknown, decoded: unknown, path: string): string[] {
  if (isDeepStrictEqual(original, decoded)) return [];
  if (Array.isArray(original) && Array.isArray(decoded) && original.length === decoded.length) {
    return original.flatMap((item, index) => findLostPaths(item, decoded[index], `${path}/${index}`));
  }
  if (isRecord(original) && isRecord(decoded)) {
    return Object.keys(original).flatMap((key) =>
      key in decoded ? findLostPaths(original[key], decoded[key], `${path}/${key}`) : [`${path}/${key}`]
    );
  }
  return [path || "/"];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
