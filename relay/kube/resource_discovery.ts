/**
 * Which resource serves a kind (`apps/v1` + `Deployment` -> `deployments`), from the API server's discovery
 * documents, with a cache so that enrichment asks once per group version.
 */
import { KubeApiError, type KubeObject, type ResourceMapping } from "./kube_api.ts";
import { toGroupVersion, toGroupVersionPath } from "./kube_paths.ts";
import { toResourceMappings } from "./kube_wire.ts";

export interface ResourceDiscoveryOptions {
  /** GETs a path and returns its JSON; rejects with KubeApiError (as KubeTransport.requestJson). */
  requestJson: (path: string, init: { signal?: AbortSignal }) => Promise<KubeObject>;
  /** `Date.now` unless a test passes its own. */
  now?: () => number;
}

/** A kind missing from a cached group version is looked up again after this long (a CRD may have been added). */
export const UNKNOWN_KIND_RETRY_MS = 60_000;
/** Group versions cached at most; the cache starts over past it. */
export const GROUP_VERSIONS_MAX = 1000;

/**
 * Resolves kinds through discovery. A group version's document is cached: a kind found in it is answered from the
 * cache for good; a kind not found in it (or a group version the server does not serve, 404) is answered as
 * undefined from the cache for UNKNOWN_KIND_RETRY_MS, then asked again.
 */
export class ResourceDiscovery {
  readonly #options: ResourceDiscoveryOptions;
  readonly #now: () => number;
  readonly #cache = new Map<string, { atMs: number; resources: Map<string, ResourceMapping> }>();

  constructor(options: ResourceDiscoveryOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The resource serving `kind` in `apiVersion`, or undefined. Rejects with KubeApiError for other failures. */
  async resolve(options: { apiVersion: string; kind: string; signal?: AbortSignal }): Promise<
    ResourceMapping | undefined
  > {
    const { apiVersion, kind, signal } = options;
    const cached = this.#cache.get(apiVersion);
    if (cached !== undefined && (cached.resources.has(kind) || this.#now() - cached.atMs < UNKNOWN_KIND_RETRY_MS)) {
      return cached.resources.get(kind);
    }
    const resources = await this.#read(apiVersion, signal);
    if (this.#cache.size > GROUP_VERSIONS_MAX) this.#cache.clear();
    this.#cache.set(apiVersion, { atMs: this.#now(), resources });
    return resources.get(kind);
  }

  /** The kinds a group version serves; none when the server does not serve it (404). */
  async #read(apiVersion: string, signal: AbortSignal | undefined): Promise<Map<string, ResourceMapping>> {
    const groupVersion = toGroupVersion(apiVersion);
    try {
      const body = await this.#options.requestJson(toGroupVersionPath(groupVersion.group, groupVersion.version), {
        signal,
      });
      return toResourceMappings(groupVersion, body);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return new Map();
      throw error;
    }
  }
}
