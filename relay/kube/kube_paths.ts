/**
 * The API server paths the relay calls, built from names that are escaped on the way in. Pure.
 */
import type { ResourceMapping } from "./kube_api.ts";

/** `/api/v1/events`, or one namespace's `/api/v1/namespaces/<namespace>/events`. */
export function toEventsPath(namespace?: string): string {
  return namespace === undefined ? "/api/v1/events" : `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
}

/** `apps/v1` -> group `apps`, version `v1`; `v1` -> the core group `""`. */
export function toGroupVersion(apiVersion: string): { group: string; version: string } {
  if (!apiVersion.includes("/")) return { group: "", version: apiVersion };
  const [group, version] = apiVersion.split("/", 2) as [string, string];
  return { group, version };
}

/** The discovery document of a group version: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export function toGroupVersionPath(group: string, version: string): string {
  return group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** One object of `mapping`; the namespace is used only when the resource is namespaced and one is given. */
export function toObjectPath(mapping: ResourceMapping, options: { namespace?: string; name: string }): string {
  const scope = mapping.isNamespaced && options.namespace ? `/namespaces/${encodeURIComponent(options.namespace)}` : "";
  return `${toGroupVersionPath(mapping.group, mapping.version)}${scope}/${mapping.resource}/` +
    encodeURIComponent(options.name);
}

/** One namespace object. */
export function toNamespacePath(name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(name)}`;
}

/** The Leases of a namespace (to create one), or one Lease when `name` is given. */
export function toLeasePath(namespace: string, name?: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases` +
    (name === undefined ? "" : `/${encodeURIComponent(name)}`);
}
