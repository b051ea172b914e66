/**
 * The resource types the simulator serves: which kind lives at which group, version and plural name, and whether
 * it is namespaced. Discovery answers from here, and so does the routing of object paths.
 */

/** One served resource, as `APIResource` describes it. */
export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  /** Plural name in paths, e.g. `replicasets`. */
  resource: string;
  singularName: string;
  kind: string;
  isNamespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  /** Groups of resources, e.g. `all` (what `kubectl get all` lists). */
  categories?: string[];
}

const OBJECT_VERBS = ["create", "delete", "get", "list", "update"];

/** What a fresh simulator serves; `putObject` of another kind adds its type. */
const BUILT_IN_RESOURCES: readonly ResourceType[] = [
  core("events", "Event", { verbs: ["get", "list", "watch"], shortNames: ["ev"] }),
  core("pods", "Pod", { shortNames: ["po"], categories: ["all"] }),
  core("nodes", "Node", { isNamespaced: false, shortNames: ["no"] }),
  core("namespaces", "Namespace", { isNamespaced: false, shortNames: ["ns"] }),
  apps("deployments", "Deployment", ["deploy"]),
  apps("replicasets", "ReplicaSet", ["rs"]),
  apps("statefulsets", "StatefulSet", ["sts"]),
  apps("daemonsets", "DaemonSet", ["ds"]),
  {
    group: "coordination.k8s.io",
    version: "v1",
    resource: "leases",
    singularName: "lease",
    kind: "Lease",
    isNamespaced: true,
    verbs: OBJECT_VERBS,
  },
  {
    group: "composition.krateo.io",
    version: "v1alpha1",
    resource: "compositions",
    singularName: "composition",
    kind: "Composition",
    isNamespaced: true,
    verbs: OBJECT_VERBS,
  },
];

function core(
  resource: string,
  kind: string,
  options: { isNamespaced?: boolean; verbs?: string[]; shortNames?: string[]; categories?: string[] },
): ResourceType {
  return {
    group: "",
    version: "v1",
    resource,
    singularName: kind.toLowerCase(),
    kind,
    isNamespaced: options.isNamespaced ?? true,
    verbs: options.verbs ?? OBJECT_VERBS,
    shortNames: options.shortNames,
    categories: options.categories,
  };
}

function apps(resource: string, kind: string, shortNames: string[]): ResourceType {
  return {
    group: "apps",
    version: "v1",
    resource,
    singularName: kind.toLowerCase(),
    kind,
    isNamespaced: true,
    verbs: OBJECT_VERBS,
    shortNames,
    categories: ["all"],
  };
}

/** `group/version`, or `version` for the core group. */
export function toGroupVersion(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

/** Splits an apiVersion into group ("" for core) and version. */
function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The served resource types, looked up by path or by kind. */
export class ResourceRegistry {
  readonly #types: ResourceType[] = [];

  constructor(types: readonly ResourceType[] = BUILT_IN_RESOURCES) {
    for (const type of types) this.#types.push({ ...type });
  }

  /** The type at `/apis/<group>/<version>/<resource>`, or undefined. */
  byResource(group: string, version: string, resource: string): ResourceType | undefined {
    return this.#types.find((t) => t.group === group && t.version === version && t.resource === resource);
  }

  /** The type of objects with this apiVersion and kind, or undefined. */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const { group, version } = parseApiVersion(apiVersion);
    return this.#types.find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  /** The type for an object, registering a new one (plural guessed from the kind) when it is not known yet. */
  ensureKind(apiVersion: string, kind: string, options: { isNamespaced: boolean }): ResourceType {
    const known = this.byKind(apiVersion, kind);
    if (known) return known;
    const { group, version } = parseApiVersion(apiVersion);
    const type: ResourceType = {
      group,
      version,
      resource: toPlural(kind.toLowerCase()),
      singularName: kind.toLowerCase(),
      kind,
      isNamespaced: options.isNamespaced,
      verbs: OBJECT_VERBS,
    };
    this.#types.push(type);
    return type;
  }

  /** All types of one group version, in registration order. */
  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.#types.filter((t) => t.group === group && t.version === version);
  }

  /** The named groups (not core) with their versions, in registration order. */
  groups(): { name: string; versions: string[] }[] {
    const groups = new Map<string, string[]>();
    for (const type of this.#types) {
      if (type.group === "") continue;
      const versions = groups.get(type.group) ?? [];
      if (!versions.includes(type.version)) versions.push(type.version);
      groups.set(type.group, versions);
    }
    return [...groups].map(([name, versions]) => ({ name, versions }));
  }
}

function toPlural(singular: string): string {
  if (/(s|x|z|ch|sh)$/.test(singular)) return `${singular}es`;
  if (/[^aeiou]y$/.test(singular)) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}
