/**
 * Test support: structural checks of the CloudNativePG objects deploy/ uses (postgresql.cnpg.io/v1 Cluster and
 * Pooler). The CRDs are not part of this repository: the field names, enums and required fields below are those of
 * cloudnative-pg's config/crd/bases at v1.30.0-86 (commit a95a534). What is checked: every field we set is one the
 * CRD has, required fields are there, enums and types hold.
 */
import type { KubeObject } from "./render.ts";

const CLUSTER_SPEC = [
  "affinity",
  "backup",
  "bootstrap",
  "certificates",
  "description",
  "enablePDB",
  "enableSuperuserAccess",
  "env",
  "envFrom",
  "ephemeralVolumeSource",
  "ephemeralVolumesSizeLimit",
  "externalClusters",
  "failoverDelay",
  "imageCatalogRef",
  "imageName",
  "imagePullPolicy",
  "imagePullSecrets",
  "inheritedMetadata",
  "instances",
  "livenessProbeTimeout",
  "logLevel",
  "managed",
  "maxSyncReplicas",
  "minSyncReplicas",
  "monitoring",
  "nodeMaintenanceWindow",
  "plugins",
  "podSecurityContext",
  "podSelectorRefs",
  "postgresGID",
  "postgresUID",
  "postgresql",
  "primaryLease",
  "primaryUpdateMethod",
  "primaryUpdateStrategy",
  "priorityClassName",
  "probes",
  "projectedVolumeTemplate",
  "replica",
  "replicationSlots",
  "resources",
  "schedulerName",
  "seccompProfile",
  "securityContext",
  "serviceAccountName",
  "serviceAccountTemplate",
  "smartShutdownTimeout",
  "startDelay",
  "stopDelay",
  "storage",
  "superuserSecret",
  "switchoverDelay",
  "tablespaces",
  "topologySpreadConstraints",
  "walStorage",
];
const INITDB = [
  "builtinLocale",
  "dataChecksums",
  "database",
  "encoding",
  "icuLocale",
  "icuRules",
  "import",
  "locale",
  "localeCType",
  "localeCollate",
  "localeProvider",
  "options",
  "owner",
  "postInitApplicationSQL",
  "postInitApplicationSQLRefs",
  "postInitSQL",
  "postInitSQLRefs",
  "postInitTemplateSQL",
  "postInitTemplateSQLRefs",
  "secret",
  "walSegmentSize",
];
const STORAGE = ["pvcTemplate", "resizeInUseVolumes", "size", "storageClass"];
const POSTGRESQL = [
  "enableAlterSystem",
  "extensions",
  "ldap",
  "parameters",
  "pg_hba",
  "pg_ident",
  "promotionTimeout",
  "shared_preload_libraries",
  "syncReplicaElectionConstraint",
  "synchronous",
];
const POOLER_SPEC = [
  "cluster",
  "deploymentStrategy",
  "instances",
  "monitoring",
  "pgbouncer",
  "serviceAccountName",
  "serviceTemplate",
  "template",
  "type",
];
const PGBOUNCER = [
  "authQuery",
  "authQuerySecret",
  "clientCASecret",
  "clientTLSSecret",
  "image",
  "imageCatalogRef",
  "parameters",
  "paused",
  "pg_hba",
  "poolMode",
  "serverCASecret",
  "serverTLSSecret",
];

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Problems of `node` at `path`: keys outside `known`. */
function checkKeys(node: unknown, path: string, known: string[], problems: string[]): void {
  if (node === undefined) return;
  if (!isNode(node)) {
    problems.push(`${path}: must be an object`);
    return;
  }
  for (const key of Object.keys(node)) if (!known.includes(key)) problems.push(`${path}/${key}: is not a CRD field`);
}

function checkStringMap(node: unknown, path: string, problems: string[]): void {
  if (node === undefined) return;
  if (!isNode(node) || !Object.values(node).every((v) => typeof v === "string")) {
    problems.push(`${path}: must map names to strings`);
  }
}

function checkInteger(value: unknown, path: string, minimum: number, problems: string[]): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < minimum) {
    problems.push(`${path}: must be an integer >= ${minimum}`);
  }
}

function checkCluster(spec: Node, problems: string[]): void {
  checkKeys(spec, "/spec", CLUSTER_SPEC, problems);
  if (spec.instances === undefined) problems.push("/spec: must have required property instances");
  checkInteger(spec.instances, "/spec/instances", 1, problems);
  const bootstrap = spec.bootstrap as Node | undefined;
  checkKeys(bootstrap, "/spec/bootstrap", ["initdb", "pg_basebackup", "recovery"], problems);
  checkKeys(bootstrap?.initdb, "/spec/bootstrap/initdb", INITDB, problems);
  checkKeys(spec.storage, "/spec/storage", STORAGE, problems);
  checkKeys(spec.postgresql, "/spec/postgresql", POSTGRESQL, problems);
  checkStringMap((spec.postgresql as Node | undefined)?.parameters, "/spec/postgresql/parameters", problems);
}

function checkPooler(spec: Node, problems: string[]): void {
  checkKeys(spec, "/spec", POOLER_SPEC, problems);
  for (const required of ["cluster", "pgbouncer"]) {
    if (spec[required] === undefined) problems.push(`/spec: must have required property ${required}`);
  }
  checkKeys(spec.cluster, "/spec/cluster", ["name"], problems);
  if (isNode(spec.cluster) && typeof spec.cluster.name !== "string") {
    problems.push("/spec/cluster: must have required property name");
  }
  checkInteger(spec.instances, "/spec/instances", 0, problems);
  if (spec.type !== undefined && !["rw", "ro", "r"].includes(spec.type as string)) {
    problems.push("/spec/type: must be one of rw, ro, r");
  }
  checkKeys(spec.pgbouncer, "/spec/pgbouncer", PGBOUNCER, problems);
  const pgbouncer = spec.pgbouncer as Node | undefined;
  if (pgbouncer?.poolMode !== undefined && !["session", "transaction"].includes(pgbouncer.poolMode as string)) {
    problems.push("/spec/pgbouncer/poolMode: must be one of session, transaction");
  }
  checkStringMap(pgbouncer?.parameters, "/spec/pgbouncer/parameters", problems);
}

/**
 * Every way a CloudNativePG `object` breaks the checks above (`<kind>/<name> <path>: <problem>`); null when the
 * object is not a postgresql.cnpg.io/v1 Cluster or Pooler.
 */
export function findCnpgProblems(object: KubeObject): string[] | null {
  if (object.apiVersion !== "postgresql.cnpg.io/v1" || !["Cluster", "Pooler"].includes(object.kind)) return null;
  const problems: string[] = [];
  if (!isNode(object.spec)) problems.push("/: must have required property spec");
  else if (object.kind === "Cluster") checkCluster(object.spec, problems);
  else checkPooler(object.spec, problems);
  return problems.map((problem) => `${object.kind}/${object.metadata.name} ${problem}`);
}
