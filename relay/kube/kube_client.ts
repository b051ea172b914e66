/**
 * The Kubernetes API adapter. `kube_config.ts` (over `@kubernetes/client-node`'s kubeconfig modules) resolves where
 * the API server is and how to authenticate (in-cluster service account, kubeconfig contexts, client certificates,
 * exec and token-file plugins). Requests themselves go through `fetch` (`kube_transport.ts`)
 * and return the objects exactly as the server sent them: the generated typed API would turn timestamps into Date
 * objects (losing MicroTime precision), and its Watch pushes lines from a callback without a way to pause, while
 * the relay needs a stream it can stop reading when its queue is full.
 */
import {
  type EventListPage,
  type KubeApi,
  KubeApiError,
  type Lease,
  type ObjectMetadata,
  type ResourceMapping,
  type WatchEvent,
} from "./kube_api.ts";
import { type KubeConnection, loadKubeCredentials } from "./kube_config.ts";
import { toEventsPath, toLeasePath, toNamespacePath, toObjectPath } from "./kube_paths.ts";
import { KubeTransport } from "./kube_transport.ts";
import { toEventListPage, toLease, toLeaseBody, toNamespaceUid, toObjectMetadata } from "./kube_wire.ts";
import { linkSignals } from "../linked_signal.ts";
import type { ResourceDiscovery } from "./resource_discovery.ts";

export interface KubeClientOptions {
  connection: KubeConnection;
  /** The environment holding KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (in-cluster connection only). */
  env?: Record<string, string | undefined>;
  /** `globalThis.fetch` unless a test passes its own. */
  fetch?: typeof fetch;
  /** Longest watch line accepted; an event is a few KiB. */
  watchLineBytesMax?: number;
}

/** Connection facts for logs and cluster name detection. */
export interface KubeClientInfo {
  server: string;
  /** The kubeconfig context's cluster name; undefined in-cluster. */
  contextCluster?: string;
}

/** Longest watch line accepted unless configured. */
const WATCH_LINE_BYTES_MAX = 16 * 1024 * 1024;
const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/**
 * Builds the API client. Rejects with Error "Cannot load Kubernetes configuration: ..." when the kubeconfig is
 * missing, has no current context, or names no server: it never falls back to localhost.
 */
export async function createKubeClient(
  options: KubeClientOptions,
): Promise<KubeApi & { info: KubeClientInfo; close(): void }> {
  const credentials = await loadKubeCredentials(options.connection, { env: options.env ?? {} });
  return new KubeClient({
    transport: new KubeTransport({ credentials, fetch: options.fetch }),
    info: { server: credentials.server, contextCluster: credentials.contextCluster },
    watchLineBytesMax: options.watchLineBytesMax ?? WATCH_LINE_BYTES_MAX,
  });
}

/** KubeApi over a KubeTransport: each call is a path, a request and a conversion from `kube_wire.ts`. */
class KubeClient implements KubeApi {
  readonly server: string;
  readonly info: KubeClientInfo;
  readonly #transport: KubeTransport;
  /** Loaded on the first lookup: only a leader's enricher resolves resources. */
  #discovery: Promise<ResourceDiscovery> | undefined;
  readonly #watchLineBytesMax: number;

  constructor(options: { transport: KubeTransport; info: KubeClientInfo; watchLineBytesMax: number }) {
    this.server = options.transport.server;
    this.info = options.info;
    this.#transport = options.transport;
    this.#watchLineBytesMax = options.watchLineBytesMax;
  }

  close(): void {
    this.#transport.close();
  }

  async listEvents(options: Parameters<KubeApi["listEvents"]>[0]): Promise<EventListPage> {
    const query = new URLSearchParams({ limit: String(options.limit) });
    if (options.continueToken) query.set("continue", options.continueToken);
    const path = `${toEventsPath(options.namespace)}?${query}`;
    return toEventListPage(await this.#transport.requestJson(path, { signal: options.signal }));
  }

  watchEvents(options: Parameters<KubeApi["watchEvents"]>[0]): AsyncIterable<WatchEvent> {
    return { [Symbol.asyncIterator]: () => this.#watch(options) };
  }

  resolveResource(options: Parameters<KubeApi["resolveResource"]>[0]): Promise<ResourceMapping | undefined> {
    this.#discovery ??= import("./resource_discovery.ts").then(({ ResourceDiscovery }) =>
      new ResourceDiscovery({ requestJson: (path, init) => this.#transport.requestJson(path, init) })
    );
    return this.#discovery.then((discovery) => discovery.resolve(options));
  }

  async getObjectMetadata(options: Parameters<KubeApi["getObjectMetadata"]>[0]): Promise<ObjectMetadata> {
    const path = toObjectPath(options.mapping, { namespace: options.namespace, name: options.name });
    const object = await this.#transport.requestJson(path, { accept: METADATA_ACCEPT, signal: options.signal });
    return toObjectMetadata(object, options.name);
  }

  async getNamespaceUid(name: string, signal?: AbortSignal): Promise<string> {
    return toNamespaceUid(await this.#transport.requestJson(toNamespacePath(name), { signal }), name);
  }

  async getLease(options: { namespace: string; name: string; signal?: AbortSignal }): Promise<Lease | undefined> {
    const path = toLeasePath(options.namespace, options.name);
    const object = await this.#transport.requestJson(path, { signal: options.signal }).catch(undefinedOn404);
    return object === undefined ? undefined : toLease(object);
  }

  async createLease(lease: Lease, signal?: AbortSignal): Promise<Lease> {
    const init = { method: "POST", body: toLeaseBody(lease), signal };
    return toLease(await this.#transport.requestJson(toLeasePath(lease.namespace), init));
  }

  async replaceLease(lease: Lease, signal?: AbortSignal): Promise<Lease> {
    const init = { method: "PUT", body: toLeaseBody(lease), signal };
    return toLease(await this.#transport.requestJson(toLeasePath(lease.namespace, lease.name), init));
  }

  /** One watch request, read a notification at a time; closes the connection however the consumer stops. */
  async *#watch(options: Parameters<KubeApi["watchEvents"]>[0]): AsyncGenerator<WatchEvent> {
    const query = new URLSearchParams({
      watch: "true",
      allowWatchBookmarks: "true",
      resourceVersion: options.resourceVersion,
      timeoutSeconds: String(options.timeoutS),
    });
    const linked = linkSignals(options.signal);
    try {
      const response = await this.#transport.request(`${toEventsPath(options.namespace)}?${query}`, {
        signal: linked.signal,
      });
      if (response.body === null) return;
      // Loaded here, not at start: only a leader watches, and a standby keeps its memory small.
      const { readWatchEvents } = await import("./watch_reader.ts");
      yield* readWatchEvents(response.body, {
        lineBytesMax: this.#watchLineBytesMax,
        idleTimeoutMs: options.idleTimeoutMs,
        signal: linked.signal,
      });
    } finally {
      linked.abort(); // also removes its listener from the caller's long-lived signal
    }
  }
}

/** Turns a 404 into undefined; rethrows anything else. */
function undefinedOn404(error: unknown): undefined {
  if (error instanceof KubeApiError && error.status === 404) return undefined;
  throw error;
}
