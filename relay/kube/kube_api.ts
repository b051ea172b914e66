/**
 * The small slice of the Kubernetes API the relay uses, as our own types. `kube_client.ts` implements it over
 * `@kubernetes/client-node`'s configuration and authentication; everything else depends on this interface only.
 */

/** A Kubernetes object as JSON, exactly as the API server sent it. */
export type KubeObject = Record<string, unknown>;

/** One page of `GET .../events?limit=...`. `continueToken` is null on the last page. */
export interface EventListPage {
  items: KubeObject[];
  /** The list's resourceVersion: a watch may start from it once every page has been read. */
  resourceVersion: string;
  continueToken: string | null;
}

/** One watch notification. ERROR notifications are not yielded: they end the watch with a KubeApiError. */
export type WatchEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject; resourceVersion: string }
  | { type: "BOOKMARK"; resourceVersion: string };

/** Where a kind is served: from discovery, `apps/v1` + `Deployment` -> `deployments`, namespaced. */
export interface ResourceMapping {
  /** Group, "" for the core group. */
  group: string;
  version: string;
  /** Plural resource name used in paths. */
  resource: string;
  isNamespaced: boolean;
}

/** An owner reference as found in `metadata.ownerReferences`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** The metadata of an object (its PartialObjectMetadata form). */
export interface ObjectMetadata {
  uid: string;
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  ownerReferences: OwnerReference[];
}

/** coordination.k8s.io/v1 Lease, the fields leader election reads and writes. Times are RFC 3339 (MicroTime). */
export interface Lease {
  namespace: string;
  name: string;
  /** Set on objects read from the server; sent back on replace for optimistic concurrency. */
  resourceVersion?: string;
  holderIdentity: string | null;
  leaseDurationSeconds: number | null;
  acquireTime: string | null;
  renewTime: string | null;
  leaseTransitions: number;
}

/**
 * A failed API request, or an ERROR watch notification. `status` is the HTTP status (or the Status object's code),
 * 0 when no response arrived. `reason` is the Status reason (`Expired`, `Conflict`, `Forbidden`, ...).
 */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  readonly status: number;
  readonly reason: string;
  constructor(message: string, options: { status: number; reason: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.reason = options.reason;
  }
}

/** Every call honours its signal and rejects with KubeApiError for HTTP and Status failures. */
export interface KubeApi {
  /** The API server URL (for logs). */
  readonly server: string;
  /** One page of events, across all namespaces when `namespace` is undefined. */
  listEvents(options: { namespace?: string; limit: number; continueToken?: string; signal?: AbortSignal }): Promise<
    EventListPage
  >;
  /**
   * Watches events from `resourceVersion` with bookmarks. The iterator reads the stream only when asked for the next
   * notification, so a consumer that stops asking stops the stream (TCP backpressure). It ends when the server closes
   * the stream, and throws KubeApiError on an ERROR notification (410 Gone included) or a failed request. Breaking out
   * of the loop, or aborting `signal`, closes the connection. An idle stream (no byte for `idleTimeoutMs` while the
   * consumer waits) throws KubeApiError with status 0 and reason `IdleTimeout`.
   */
  watchEvents(options: {
    namespace?: string;
    resourceVersion: string;
    timeoutS: number;
    idleTimeoutMs: number;
    signal: AbortSignal;
  }): AsyncIterable<WatchEvent>;
  /** Maps a kind to its resource through discovery; undefined when the group version does not serve that kind. */
  resolveResource(options: { apiVersion: string; kind: string; signal?: AbortSignal }): Promise<
    ResourceMapping | undefined
  >;
  /** Metadata-only GET of one object. */
  getObjectMetadata(options: {
    mapping: ResourceMapping;
    namespace?: string;
    name: string;
    signal?: AbortSignal;
  }): Promise<ObjectMetadata>;
  /** `metadata.uid` of a namespace (the relay names an unnamed cluster after kube-system's). */
  getNamespaceUid(name: string, signal?: AbortSignal): Promise<string>;
  /** The Lease, or undefined when it does not exist. */
  getLease(options: { namespace: string; name: string; signal?: AbortSignal }): Promise<Lease | undefined>;
  /** Creates the Lease; KubeApiError 409 when it already exists. */
  createLease(lease: Lease, signal?: AbortSignal): Promise<Lease>;
  /** Replaces the Lease; KubeApiError 409 when `lease.resourceVersion` is stale. */
  replaceLease(lease: Lease, signal?: AbortSignal): Promise<Lease>;
}
