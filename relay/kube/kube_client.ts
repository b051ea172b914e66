/**
 * The Kubernetes API adapter. `kube_config.ts` (over `@kubernetes/client-node`'s kubeconfig modules) resolves where
 * the API server is and how to authenticate (in-cluster service account, kubeconfig contexts, client certificates,
 * exec and token-file plugins). Requests themselves go through `fetch`
 * and return the objects exactly as the server sent them: the generated typed API would turn timestamps into Date
 * objects (losing MicroTime precision), and its Watch pushes lines from a callback without a way to pause, while
 * the relay needs a stream it can stop reading when its queue is full.
 */
import {
  type EventListPage,
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type Lease,
  type ObjectMetadata,
  type OwnerReference,
  type ResourceMapping,
  type WatchEvent,
} from "./kube_api.ts";
import { type KubeConnection, type KubeRequestOptions, loadKubeCredentials } from "./kube_config.ts";
import { toKubeApiError, toLease, toLeaseBody } from "./kube_wire.ts";
import { linkSignals } from "../linked_signal.ts";
import { readWatchEvents } from "./watch_reader.ts";

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

const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/**
 * Builds the API client. Throws Error "Cannot load Kubernetes configuration: ..." when the kubeconfig is missing,
 * has no current context, or names no server: it never falls back to localhost.
 */
export function createKubeClient(options: KubeClientOptions): KubeApi & { info: KubeClientInfo; close(): void } {
  const credentials = loadKubeCredentials(
    options.connection,
    { env: options.env ?? {} },
  );
  const server = credentials.server;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const watchLineBytesMax = options.watchLineBytesMax ?? 16 * 1024 * 1024;
  let httpClient: Deno.HttpClient | undefined;
  let isTlsChecked = false;

  async function request(
    path: string,
    init: { method?: string; body?: unknown; accept?: string; signal?: AbortSignal },
  ) {
    const opts: KubeRequestOptions = { headers: {} };
    await credentials.apply(opts);
    if (!isTlsChecked) {
      isTlsChecked = true;
      if (server.startsWith("https:")) {
        if (opts.rejectUnauthorized === false) {
          throw new Error(
            `Cannot connect to ${server}: insecure-skip-tls-verify is not supported, give the CA instead`,
          );
        }
        const text = (bytes: Uint8Array | undefined) =>
          bytes === undefined ? undefined : new TextDecoder().decode(bytes);
        const ca = text(opts.ca), cert = text(opts.cert), key = text(opts.key);
        if (ca !== undefined || (cert !== undefined && key !== undefined)) {
          httpClient = Deno.createHttpClient({
            ...(ca !== undefined ? { caCerts: [ca] } : {}),
            ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
          });
        }
      }
    }
    const headers: Record<string, string> = { ...opts.headers, accept: init.accept ?? "application/json" };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await baseFetch(server + path, {
        method: init.method ?? "GET",
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal,
        ...(httpClient ? { client: httpClient } : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new KubeApiError(`Cannot reach the API server ${server}: ${(error as Error).message}`, {
        status: 0,
        reason: "Unreachable",
        cause: error,
      });
    }
    if (!response.ok) {
      const text = await response.text().catch((error: unknown) => `(body unreadable: ${String(error)})`);
      throw toKubeApiError(response.status, text, `${init.method ?? "GET"} ${path.split("?")[0]}`);
    }
    return response;
  }

  async function requestJson(path: string, init: Parameters<typeof request>[1] = {}): Promise<KubeObject> {
    const response = await request(path, init);
    return await response.json() as KubeObject;
  }

  const eventsPath = (namespace?: string) =>
    namespace === undefined ? "/api/v1/events" : `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
  const discovery = new Map<string, { atMs: number; resources: Map<string, ResourceMapping> }>();
  const leasePath = (namespace: string, name?: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases` +
    (name === undefined ? "" : `/${encodeURIComponent(name)}`);

  return {
    server,
    info: { server, contextCluster: credentials.contextCluster },
    close() {
      httpClient?.close();
    },

    async listEvents({ namespace, limit, continueToken, signal }): Promise<EventListPage> {
      const query = new URLSearchParams({ limit: String(limit) });
      if (continueToken) query.set("continue", continueToken);
      const list = await requestJson(`${eventsPath(namespace)}?${query}`, { signal });
      const metadata = (list.metadata ?? {}) as Record<string, unknown>;
      const items = Array.isArray(list.items) ? list.items as KubeObject[] : [];
      return {
        items,
        resourceVersion: String(metadata.resourceVersion ?? ""),
        continueToken: typeof metadata.continue === "string" && metadata.continue !== "" ? metadata.continue : null,
      };
    },

    watchEvents(options): AsyncIterable<WatchEvent> {
      return {
        [Symbol.asyncIterator]: () => watchIterator(options),
      };
    },

    async resolveResource({ apiVersion, kind, signal }): Promise<ResourceMapping | undefined> {
      const cached = discovery.get(apiVersion);
      if (cached !== undefined && (cached.resources.has(kind) || Date.now() - cached.atMs < 60_000)) {
        return cached.resources.get(kind);
      }
      const [group, version] = apiVersion.includes("/")
        ? apiVersion.split("/", 2) as [string, string]
        : ["", apiVersion];
      const path = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
      let body: KubeObject;
      try {
        body = await requestJson(path, { signal });
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) {
          discovery.set(apiVersion, { atMs: Date.now(), resources: new Map() });
          return undefined;
        }
        throw error;
      }
      const resources = new Map<string, ResourceMapping>();
      for (const r of Array.isArray(body.resources) ? body.resources as Record<string, unknown>[] : []) {
        if (typeof r.name !== "string" || r.name.includes("/") || typeof r.kind !== "string") continue;
        resources.set(r.kind, { group, version, resource: r.name, isNamespaced: r.namespaced === true });
      }
      if (discovery.size > 1000) discovery.clear();
      discovery.set(apiVersion, { atMs: Date.now(), resources });
      return resources.get(kind);
    },

    async getObjectMetadata({ mapping, namespace, name, signal }): Promise<ObjectMetadata> {
      const prefix = mapping.group === "" ? `/api/${mapping.version}` : `/apis/${mapping.group}/${mapping.version}`;
      const scope = mapping.isNamespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
      const object = await requestJson(`${prefix}${scope}/${mapping.resource}/${encodeURIComponent(name)}`, {
        accept: METADATA_ACCEPT,
        signal,
      });
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
    },

    async getNamespaceUid(name, signal): Promise<string> {
      const object = await requestJson(`/api/v1/namespaces/${encodeURIComponent(name)}`, { signal });
      const uid = (object.metadata as Record<string, unknown> | undefined)?.uid;
      if (typeof uid !== "string" || uid === "") {
        throw new KubeApiError(`Cannot read namespace ${name}: it has no metadata.uid`, {
          status: 0,
          reason: "Invalid",
        });
      }
      return uid;
    },

    async getLease({ namespace, name, signal }): Promise<Lease | undefined> {
      try {
        return toLease(await requestJson(leasePath(namespace, name), { signal }));
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return undefined;
        throw error;
      }
    },

    async createLease(lease, signal): Promise<Lease> {
      return toLease(
        await requestJson(leasePath(lease.namespace), { method: "POST", body: toLeaseBody(lease), signal }),
      );
    },

    async replaceLease(lease, signal): Promise<Lease> {
      return toLease(
        await requestJson(leasePath(lease.namespace, lease.name), { method: "PUT", body: toLeaseBody(lease), signal }),
      );
    },
  };

  async function* watchIterator(options: Parameters<KubeApi["watchEvents"]>[0]): AsyncGenerator<WatchEvent> {
    const query = new URLSearchParams({
      watch: "true",
      allowWatchBookmarks: "true",
      resourceVersion: options.resourceVersion,
      timeoutSeconds: String(options.timeoutS),
    });
    const linked = linkSignals(options.signal);
    try {
      const response = await request(`${eventsPath(options.namespace)}?${query}`, { signal: linked.signal });
      if (response.body === null) return;
      yield* readWatchEvents(response.body, {
        lineBytesMax: watchLineBytesMax,
        idleTimeoutMs: options.idleTimeoutMs,
        signal: linked.signal,
      });
    } finally {
      linked.abort(); // also removes its listener from the caller's long-lived signal
    }
  }
}
