/**
 * Pure conversions between Kubernetes JSON (Status, Lease) and the relay's own types in `kube_api.ts`.
 */
import { KubeApiError, type KubeObject, type Lease } from "./kube_api.ts";

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
