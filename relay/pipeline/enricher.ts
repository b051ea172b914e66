/**
 * Enrichment of an event's involved object: its labels, its owner chain and the composition it belongs to, from
 * metadata-only GETs behind a bounded LRU+TTL cache. A lookup never drops an event and never holds it longer than
 * `timeoutMs`: on failure or timeout the event goes out with `enrichment.error` set, and the failure is counted.
 */
import type { ObjectRef } from "../../shared/contract/event_view.ts";
import type { Logger } from "../../shared/telemetry/log.ts";
import type { Enrichment, OwnerRef } from "../../shared/contract/records.ts";
import { type KubeApi, KubeApiError, type ObjectMetadata } from "../kube/kube_api.ts";
import { LruCache } from "./lru_cache.ts";
import type { RelayMetrics } from "../metrics.ts";

/** Label that names an object's composition. */
const COMPOSITION_LABEL = "krateo.io/composition-id";
/** API group whose objects are compositions themselves. */
export const COMPOSITION_GROUP = "composition.krateo.io";
/** Owners followed above the involved object. */
const OWNER_DEPTH_MAX = 8;

/** Stable enrichment failure codes (relay/README.md, "What the relay guarantees"). */
export type EnrichErrorCode = "FORBIDDEN" | "NOT_FOUND" | "UNKNOWN_KIND" | "TIMEOUT" | "OVERLOADED" | "API_ERROR";

export interface EnricherOptions {
  kube: Pick<KubeApi, "resolveResource" | "getObjectMetadata">;
  cacheEntriesMax: number;
  cacheTtlMs: number;
  /** Longest an event waits for its enrichment. */
  timeoutMs: number;
  /** Lookups in flight at once; more wait (up to `waitingMax`, then fail OVERLOADED at once). */
  concurrencyMax?: number;
  waitingMax?: number;
  metrics: Pick<
    RelayMetrics,
    "enrichCacheHits" | "enrichCacheMisses" | "enrichFailures" | "compositionLookupDurationS"
  >;
  logger: Logger;
  now?: () => number;
}

type Lookup = { ok: true; metadata: ObjectMetadata; apiVersion: string; kind: string } | {
  ok: false;
  code: EnrichErrorCode;
};

/** One object to look up. */
interface Target {
  apiVersion: string;
  kind: string;
  namespace: string | undefined;
  name: string;
}

/** Whether one enrichment had to wait for the API (a miss) or came from the cache alone (a hit). */
interface Trace {
  isMiss: boolean;
}

/** Looks up involved objects with a shared cache and a cap on concurrent API calls. */
export class Enricher {
  readonly #options: EnricherOptions;
  readonly #cache: LruCache<string, Lookup>;
  readonly #inFlight = new Map<string, Promise<Lookup>>();
  #running = 0;
  #waiting: (() => void)[] = [];

  constructor(options: EnricherOptions) {
    this.#options = options;
    this.#cache = new LruCache({ entriesMax: options.cacheEntriesMax, ttlMs: options.cacheTtlMs, now: options.now });
  }

  /**
   * The enrichment for `ref`, within `timeoutMs`. Undefined when the reference names no object (no kind or name).
   * Never rejects: failures come back as `{ error: code }`.
   */
  async enrich(ref: ObjectRef, signal?: AbortSignal): Promise<Enrichment | undefined> {
    if (ref.kind === undefined || ref.name === undefined) return undefined;
    const startedMs = performance.now();
    // Nearly every event is about an object already looked up: answered from the cache, it needs no timer.
    const cached = this.#resolveFromCache(ref);
    if (cached !== undefined) return this.#finish(cached, { isMiss: false }, startedMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<Enrichment>((resolve) => {
      timer = setTimeout(() => resolve({ error: "TIMEOUT" }), this.#options.timeoutMs);
    });
    const trace = { isMiss: false };
    try {
      return this.#finish(await Promise.race([this.#resolve(ref, trace, signal), timeout]), trace, startedMs);
    } finally {
      clearTimeout(timer);
    }
  }

  #finish(enrichment: Enrichment, trace: Trace, startedMs: number): Enrichment {
    if (enrichment.error !== undefined) this.#options.metrics.enrichFailures.add(1, { code: enrichment.error });
    const result = enrichment.error !== undefined ? "error" : trace.isMiss ? "miss" : "hit";
    this.#options.metrics.compositionLookupDurationS.record((performance.now() - startedMs) / 1000, { result });
    return enrichment;
  }

  /** The enrichment when every object of the chain is cached, else undefined (and nothing counted). */
  #resolveFromCache(ref: ObjectRef): Enrichment | undefined {
    const walk = walkOwnerChain(ref);
    let hits = 0;
    let step = walk.next();
    while (!step.done) {
      const cached = this.#cache.get(toCacheKey(step.value));
      if (cached === undefined) return undefined;
      hits++;
      step = walk.next(cached);
    }
    this.#options.metrics.enrichCacheHits.add(hits);
    return step.value;
  }

  async #resolve(ref: ObjectRef, trace: Trace, signal: AbortSignal | undefined): Promise<Enrichment> {
    const walk = walkOwnerChain(ref);
    let step = walk.next();
    while (!step.done) step = walk.next(await this.#lookup(step.value, trace, signal));
    return step.value;
  }

  #lookup(target: Target, trace: Trace, signal?: AbortSignal): Promise<Lookup> {
    const { apiVersion, kind, namespace, name } = target;
    const key = toCacheKey(target);
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#options.metrics.enrichCacheHits.add(1);
      return Promise.resolve(cached);
    }
    trace.isMiss = true;
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    this.#options.metrics.enrichCacheMisses.add(1);
    const promise = this.#fetch(apiVersion, kind, namespace, name, signal).then((lookup) => {
      const isLasting = lookup.ok || lookup.code === "NOT_FOUND" || lookup.code === "FORBIDDEN" ||
        lookup.code === "UNKNOWN_KIND";
      if (isLasting) this.#cache.set(key, lookup);
      return lookup;
    }).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }

  async #fetch(apiVersion: string, kind: string, namespace: string | undefined, name: string, signal?: AbortSignal) {
    if (this.#running >= (this.#options.concurrencyMax ?? 16)) {
      if (this.#waiting.length >= (this.#options.waitingMax ?? 10_000)) {
        return { ok: false, code: "OVERLOADED" } as const;
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      const mapping = await this.#options.kube.resolveResource({ apiVersion, kind, signal });
      if (mapping === undefined) return { ok: false, code: "UNKNOWN_KIND" } as const;
      const metadata = await this.#options.kube.getObjectMetadata({ mapping, namespace, name, signal });
      return { ok: true, metadata, apiVersion, kind } as const;
    } catch (error) {
      const code = toErrorCode(error);
      if (code === "API_ERROR") {
        this.#options.logger.warn("enrichment lookup failed", {
          code,
          kind,
          status: error instanceof KubeApiError ? error.status : null,
        });
      }
      return { ok: false, code } as const;
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

/**
 * The enrichment of `ref`, as a walk that yields each object it needs (the involved object, then its owners up to
 * OWNER_DEPTH_MAX) and is given back its lookup; the caller decides where lookups come from (the cache, the API).
 */
function* walkOwnerChain(ref: ObjectRef): Generator<Target, Enrichment, Lookup> {
  const first = yield {
    apiVersion: ref.apiVersion ?? "v1",
    kind: ref.kind!,
    namespace: ref.namespace,
    name: ref.name!,
  };
  if (!first.ok) return { error: first.code };
  const enrichment: Enrichment = { labels: first.metadata.labels };
  let compositionId = toCompositionId(first);
  const owners: OwnerRef[] = [];
  let current = first;
  while (owners.length < OWNER_DEPTH_MAX) {
    const meta: ObjectMetadata = current.metadata;
    const owner = meta.ownerReferences.find((o) => o.controller) ?? meta.ownerReferences[0];
    if (owner === undefined) break;
    owners.push({ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid });
    if (compositionId === null && groupOf(owner.apiVersion) === COMPOSITION_GROUP) compositionId = owner.uid;
    const next = yield {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      namespace: meta.namespace ?? ref.namespace,
      name: owner.name,
    };
    if (!next.ok) break;
    compositionId ??= toCompositionId(next);
    current = next;
  }
  if (owners.length > 0) enrichment.owners = owners;
  enrichment.compositionId = compositionId;
  return enrichment;
}

function toCacheKey(target: Target): string {
  return `${target.apiVersion}|${target.kind}|${target.namespace ?? ""}|${target.name}`;
}

function toErrorCode(error: unknown): EnrichErrorCode {
  if (error instanceof KubeApiError) {
    if (error.status === 403 || error.status === 401) return "FORBIDDEN";
    if (error.status === 404) return "NOT_FOUND";
  }
  return "API_ERROR";
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}

function toCompositionId(lookup: Lookup & { ok: true }): string | null {
  const label = lookup.metadata.labels[COMPOSITION_LABEL];
  if (typeof label === "string" && label !== "") return label;
  if (groupOf(lookup.apiVersion) === COMPOSITION_GROUP && lookup.metadata.uid !== "") return lookup.metadata.uid;
  return null;
}
