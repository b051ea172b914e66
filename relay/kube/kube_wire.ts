/**
 * Pure conversions between Kubernetes JSON (Status, lists, discovery, metadata, Lease) and the relay's own types in
 * `kube_api.ts`.
 */
import {
  type EventListPage,
  KubeApiError,
  type KubeObject,
  type Lease,
  type ObjectMetadata,
  type OwnerReference,
  type ResourceMapping,
} from "./kube_api.ts";

/** Turns a failed response (status and body text, usually a Status object) into a KubeApiError. */
export function toKubeApiError(status: number, body: string, what: string): KubeApiError {
  let reason = "Unknown";
  let message = body.slice(0, 200);
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (typeof parsed.reason === "string") reason = parsed.reason;
    if (typeof parsed.message === "string") message = parsed.message.slice(0, 200);
  } catch {
    // Not a Status object (a proxy's HTML page, say): the raw text, cut short, is the best description there is.
  }
  return new KubeApiError(`Cannot ${what}: ${status} ${message}`, { status, reason });
}

/** Reads one page of an event list: its items, its resourceVersion, and its continue token (null when none). */
export function toEventListPage(list: KubeObject): EventListPage {
  const metadata = (list.metadata ?? {}) as Record<string, unknown>;
  return {
    items: Array.isArray(list.items) ? list.items as KubeObject[] : [],
    resourceVersion: String(metadata.resourceVersion ?? ""),
    continueToken: typeof metadata.continue === "string" && metadata.continue !== "" ? metadata.continue : null,
  };
}

/**
 * Reads a group version's discovery document (an APIResourceList) into a map from kind to resource. Subresources
 * (`pods/log`) and entries without a name or kind are left out.
 */
export function toResourceMappings(
  groupVersion: { group: string; version: string },
  body: KubeObject,
): Map<string, ResourceMapping> {
  const { group, version } = groupVersion;
  const resources = new Map<string, ResourceMapping>();
  for (const r of Array.isArray(body.resources) ? body.resources as Record<string, unknown>[] : []) {
    if (typeof r.name !== "string" || r.name.includes("/") || typeof r.kind !== "string") continue;
    resources.set(r.kind, { group, version, resource: r.name, isNamespaced: r.namespaced === true });
  }
  return resources;
}

/**
 * Reads the metadata of an object (full or PartialObjectMetadata): uid, name (`name` when the object has none),
 * namespace, labels and owner references (only the fields the relay uses; `controller` only when true).
 */
export function toObjectMetadata(object: KubeObject, name: string): ObjectMetadata {
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const labels = metadata.labels !== null && typeof metadata.labels === "object"
    ? metadata.labels as Record<string, string>
    : {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences as OwnerReference[] : [];
  return {
    uid: String(metadata.uid ?? ""),
    name: String(metadata.name ?? name),
    ...(typeof metadata.namespace === "string" ? { namespace: metadata.namespace } : {}),
    labels,
    ownerReferences: owners.map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid: o.uid,
      ...(o.controller === true ? { controller: true } : {}),
    })),
  };
}

/** `metadata.uid` of a namespace object. Throws KubeApiError (status 0, reason Invalid) when it has none. */
export function toNamespaceUid(object: KubeObject, name: string): string {
  const uid = (object.metadata as Record<string, unknown> | undefined)?.uid;
  if (typeof uid !== "string" || uid === "") {
    throw new KubeApiError(`Cannot read namespace ${name}: it has no metadata.uid`, { status: 0, reason: "Invalid" });
  }
  return uid;
}

/** Reads a coordination.k8s.io/v1 Lease object. */
export function toLease(object: KubeObject): Lease {
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => typeof value === "string" && value !== "" ? value : null;
  return {
    namespace: String(metadata.namespace ?? ""),
    name: String(metadata.name ?? ""),
    ...(typeof metadata.resourceVersion === "string" ? { resourceVersion: metadata.resourceVersion } : {}),
    holderIdentity: text(spec.holderIdentity),
    leaseDurationSeconds: typeof spec.leaseDurationSeconds === "number" ? spec.leaseDurationSeconds : null,
    acquireTime: text(spec.acquireTime),
    renewTime: text(spec.renewTime),
    leaseTransitions: typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0,
  };
}

/** The JSON body that creates or replaces `lease`; nulls are left out, as the API server would drop them. */
export function toLeaseBody(lease: Lease): KubeObject {
  const spec: Record<string, unknown> = { leaseTransitions: lease.leaseTransitions };
  if (lease.holderIdentity !== null) spec.holderIdentity = lease.holderIdentity;
  if (lease.leaseDurationSeconds !== null) spec.leaseDurationSeconds = lease.leaseDurationSeconds;
  if (lease.acquireTime !== null) spec.acquireTime = lease.acquireTime;
  if (lease.renewTime !== null) spec.renewTime = lease.renewTime;
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: lease.name,
      namespace: lease.namespace,
      ...(lease.resourceVersion !== undefined ? { resourceVersion: lease.resourceVersion } : {}),
    },
    spec,
  };
}

/** Formats an instant as a Kubernetes MicroTime (RFC 3339 with microseconds). */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
