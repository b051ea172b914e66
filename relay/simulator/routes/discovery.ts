/**
 * Discovery documents: `/version`, `/api`, `/api/v1`, `/apis` and `/apis/<group>/<version>`, so clients (the relay's
 * resource mapping, kubectl) find which kinds live at which paths.
 */
import type { ResourceRegistry } from "../stores/resources.ts";
import { toGroupVersion } from "../stores/resources.ts";

/** The version the simulator claims to be. */
const SIMULATED_VERSION = { major: "1", minor: "31", gitVersion: "v1.31.0-simulator" } as const;

/** The compatibility version fields a kube-apiserver reports beside its version (since v1.32). */
const COMPATIBILITY_VERSION = {
  emulationMajor: "1",
  emulationMinor: "31",
  minCompatibilityMajor: "1",
  minCompatibilityMinor: "30",
} as const;

/** `/version`. */
export function toVersionInfo(): Record<string, string> {
  return {
    ...SIMULATED_VERSION,
    ...COMPATIBILITY_VERSION,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "go1.22.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

/** `/api`: the core group's versions. */
export function toCoreVersions(host: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: host }],
  };
}

/** `/apis`: every named group with its versions. */
export function toGroupList(registry: ResourceRegistry): Record<string, unknown> {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: registry.groups().map(({ name, versions }) => {
      const groupVersions = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: groupVersions, preferredVersion: groupVersions[0] };
    }),
  };
}

/** `/api/v1` or `/apis/<group>/<version>`, or undefined when nothing is served there. */
export function toResourceList(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    // The API server leaves apiVersion out of the core group's list (/api/v1) and sets it for named groups.
    ...(group === "" ? {} : { apiVersion: "v1" }),
    groupVersion: toGroupVersion(group, version),
    resources: types.map((type) => {
      const resource: Record<string, unknown> = {
        name: type.resource,
        singularName: type.singularName,
        namespaced: type.isNamespaced,
        kind: type.kind,
        verbs: type.verbs,
      };
      if (type.shortNames) resource.shortNames = type.shortNames;
      if (type.categories) resource.categories = type.categories;
      return resource;
    }),
  };
}
