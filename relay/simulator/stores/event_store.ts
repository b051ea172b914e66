/**
 * The simulator's core/v1 Events: every version with its resourceVersion, consistent snapshot lists with paging, the
 * watch window (the most recent changes a watch may resume from) and expiry after a TTL.
 *
 * Events are kept as JSON text, so lists and watches are served without re-serializing 100,000 objects. Each key
 * keeps the versions a reader at or after the window's floor may still see (like etcd before compaction); a list or
 * resume from before the floor answers 410 Expired.
 */
import type { CoreV1Event } from "./kube_types.ts";
import { KubeApiError } from "../routes/kube_status.ts";
import type { RevisionCounter } from "./revision_counter.ts";
import { lowerBound, mergeSorted } from "./sorted_keys.ts";

/** The kind of write a watch event reports. */
export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/** One write to an event as a watch reports it. For DELETED, `json` is the last state with the deletion's version. */
export interface EventChange {
  type: ChangeType;
  resourceVersion: number;
  namespace: string;
  json: string;
}

/**
 * A page of a snapshot list. `continueKey` is set when more items follow; `remainingItemCount` too, with how many,
 * unless a filter was given (the API server counts only unfiltered lists).
 */
export interface EventPage {
  items: string[];
  continueKey?: string;
  remainingItemCount?: number;
}

/** What a watch positioned at a resourceVersion reads next. */
export type ChangesAfter =
  | { isExpired: true; floor: number }
  | { isExpired: false; changes: EventChange[]; lastResourceVersion: number };

/** Settings of an EventStore; the counter is shared with the object store. */
export interface EventStoreOptions {
  counter: RevisionCounter;
  /** How many recent changes a watch may resume from. */
  watchWindowSize: number;
  /** An event is deleted this long after its last write. */
  eventTtlMs: number;
  /** ms clock for the TTL. */
  now: () => number;
}

interface Version {
  resourceVersion: number;
  /** undefined: deleted at this version. */
  json: string | undefined;
}

interface Expiry {
  key: string;
  resourceVersion: number;
  expiresAtMs: number;
}

/** Holds the events; every write takes the next cluster revision and wakes the listeners. */
export class EventStore {
  readonly #options: EventStoreOptions;
  readonly #entries = new Map<string, Version[]>();
  #sortedKeys: string[] = [];
  readonly #addedKeys = new Set<string>();
  #hasRemovedKeys = false;
  #log: EventChange[] = [];
  #logStart = 0;
  #floor: number;
  #floorAtLastCompaction: number;
  #expiries: Expiry[] = [];
  #expiryStart = 0;
  readonly #emitted: { uid: string; resourceVersion: string }[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(options: EventStoreOptions) {
    this.#options = options;
    this.#floor = options.counter.current;
    this.#floorAtLastCompaction = this.#floor;
  }

  /** Resuming a watch (or listing exactly) from a version below this answers 410. */
  get floor(): number {
    return this.#floor;
  }

  /** Every version written as ADDED or MODIFIED, in write order. */
  emittedVersions(): { uid: string; resourceVersion: string }[] {
    return this.#emitted.slice();
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The newest version of an event, or undefined when it does not exist. */
  get(namespace: string, name: string): CoreV1Event | undefined {
    const json = this.#entries.get(toKey(namespace, name))?.at(-1)?.json;
    return json === undefined ? undefined : JSON.parse(json);
  }

  /** Stores a new event (ADDED). Sets its resourceVersion; throws KubeApiError 409 when the name is taken. */
  create(event: CoreV1Event): CoreV1Event {
    const namespace = event.metadata.namespace ?? "";
    const name = event.metadata.name ?? "";
    if (this.get(namespace, name) !== undefined) {
      throw new KubeApiError(409, "AlreadyExists", `events "${name}" already exists`, { name, kind: "events" });
    }
    return this.#write("ADDED", event);
  }

  /** Replaces an event with what `change` makes of a copy of it (MODIFIED, new resourceVersion). */
  update(namespace: string, name: string, change: (event: CoreV1Event) => void): CoreV1Event {
    const event = this.get(namespace, name);
    if (event === undefined) {
      throw new KubeApiError(404, "NotFound", `events "${name}" not found`, { name, kind: "events" });
    }
    const { uid, creationTimestamp } = event.metadata;
    change(event);
    event.metadata = { ...event.metadata, namespace, name, uid, creationTimestamp };
    return this.#write("MODIFIED", event);
  }

  /** Deletes an event (DELETED). Throws KubeApiError 404 when it does not exist. */
  delete(namespace: string, name: string): void {
    const event = this.get(namespace, name);
    if (event === undefined) {
      throw new KubeApiError(404, "NotFound", `events "${name}" not found`, { name, kind: "events" });
    }
    this.#write("DELETED", event);
  }

  /** Deletes the events whose TTL has run out by the clock; returns how many. */
  expire(): number {
    const nowMs = this.#options.now();
    let count = 0;
    while (this.#expiryStart < this.#expiries.length) {
      const expiry = this.#expiries[this.#expiryStart]!;
      if (expiry.expiresAtMs > nowMs) break;
      this.#expiryStart++;
      const latest = this.#entries.get(expiry.key)?.at(-1);
      if (latest?.json === undefined || latest.resourceVersion !== expiry.resourceVersion) continue;
      this.#write("DELETED", JSON.parse(latest.json));
      count++;
    }
    if (this.#expiryStart > 1024 && this.#expiryStart * 2 > this.#expiries.length) {
      this.#expiries = this.#expiries.slice(this.#expiryStart);
      this.#expiryStart = 0;
    }
    return count;
  }

  /** Forgets the watch window: resuming from any version before the current one answers 410. */
  expireWindow(): void {
    this.#floor = this.#options.counter.current;
    this.#log = [];
    this.#logStart = 0;
    this.#compact();
  }

  /**
   * One page of the events as they were at `resourceVersion`, in key order (namespace/name), after `afterKey`.
   * Throws KubeApiError 410 when that version is older than the window.
   */
  list(options: {
    resourceVersion: number;
    namespace?: string;
    afterKey?: string;
    limit?: number;
    filter?: (json: string) => boolean;
  }): EventPage {
    const { resourceVersion, namespace, filter } = options;
    if (resourceVersion < this.#floor) {
      throw new KubeApiError(
        410,
        "Expired",
        `The provided continue parameter is too old to display a consistent list result: ${resourceVersion} is older than ${this.#floor}. Start a new list without the continue parameter.`,
      );
    }
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const keys = this.#keysInOrder();
    const prefix = namespace === undefined ? "" : `${namespace}/`;
    const start = options.afterKey === undefined ? prefix : `${options.afterKey}\u0000`;
    const items: string[] = [];
    let lastKey = "";
    for (let i = lowerBound(keys, start < prefix ? prefix : start); i < keys.length; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      const json = jsonAt(this.#entries.get(key), resourceVersion);
      if (json === undefined || (filter !== undefined && !filter(json))) continue;
      if (items.length === limit) {
        if (filter !== undefined) return { items, continueKey: lastKey };
        return { items, continueKey: lastKey, remainingItemCount: this.#countLive(keys, i, prefix, resourceVersion) };
      }
      items.push(json);
      lastKey = key;
    }
    return { items };
  }

  /** How many of `keys` from index `from` on, under `prefix`, hold a live event at `resourceVersion`. */
  #countLive(keys: readonly string[], from: number, prefix: string, resourceVersion: number): number {
    let count = 0;
    for (let i = from; i < keys.length && keys[i]!.startsWith(prefix); i++) {
      if (jsonAt(this.#entries.get(keys[i]!), resourceVersion) !== undefined) count++;
    }
    return count;
  }

  /** Up to `max` changes after `resourceVersion` (in `namespace` when given), or isExpired when that is too old. */
  changesAfter(resourceVersion: number, options: { namespace?: string; max: number }): ChangesAfter {
    if (resourceVersion < this.#floor) return { isExpired: true, floor: this.#floor };
    const changes: EventChange[] = [];
    let lastResourceVersion = resourceVersion;
    let i = this.#firstChangeAfter(resourceVersion);
    for (; i < this.#log.length && changes.length < options.max; i++) {
      const change = this.#log[i]!;
      lastResourceVersion = change.resourceVersion;
      if (options.namespace === undefined || change.namespace === options.namespace) changes.push(change);
    }
    return { isExpired: false, changes, lastResourceVersion };
  }

  #write(type: ChangeType, event: CoreV1Event): CoreV1Event {
    const namespace = event.metadata.namespace ?? "";
    const key = toKey(namespace, event.metadata.name ?? "");
    const resourceVersion = this.#options.counter.next();
    event.metadata.resourceVersion = String(resourceVersion);
    const json = JSON.stringify(event);
    let versions = this.#entries.get(key);
    if (versions === undefined) {
      versions = [];
      this.#entries.set(key, versions);
      this.#addedKeys.add(key);
    } else {
      this.#prune(versions);
    }
    versions.push({ resourceVersion, json: type === "DELETED" ? undefined : json });
    this.#log.push({ type, resourceVersion, namespace, json });
    if (this.#log.length - this.#logStart > this.#options.watchWindowSize) {
      this.#floor = this.#log[this.#logStart]!.resourceVersion;
      this.#logStart++;
    }
    if (type !== "DELETED") {
      this.#emitted.push({ uid: event.metadata.uid ?? "", resourceVersion: String(resourceVersion) });
      this.#expiries.push({ key, resourceVersion, expiresAtMs: this.#options.now() + this.#options.eventTtlMs });
    }
    if (this.#floor - this.#floorAtLastCompaction >= this.#options.watchWindowSize) this.#compact();
    for (const listener of this.#listeners) listener();
    return event;
  }

  /** Drops log entries and versions no reader at or after the floor can see. */
  #compact(): void {
    this.#floorAtLastCompaction = this.#floor;
    if (this.#logStart > 0) {
      this.#log = this.#log.slice(this.#logStart);
      this.#logStart = 0;
    }
    for (const [key, versions] of this.#entries) {
      this.#prune(versions);
      const only = versions[0];
      if (versions.length === 1 && only!.json === undefined && only!.resourceVersion <= this.#floor) {
        this.#entries.delete(key);
        this.#hasRemovedKeys = true;
      }
    }
  }

  /** Keeps the versions after the floor and the newest one at or before it. */
  #prune(versions: Version[]): void {
    for (let i = versions.length - 1; i > 0; i--) {
      if (versions[i]!.resourceVersion <= this.#floor) {
        versions.splice(0, i);
        return;
      }
    }
  }

  #keysInOrder(): string[] {
    if (this.#addedKeys.size === 0 && !this.#hasRemovedKeys) return this.#sortedKeys;
    const added = [...this.#addedKeys].filter((key) => this.#entries.has(key)).sort();
    const kept = this.#sortedKeys.filter((key) => this.#entries.has(key) && !this.#addedKeys.has(key));
    this.#sortedKeys = mergeSorted(kept, added);
    this.#addedKeys.clear();
    this.#hasRemovedKeys = false;
    return this.#sortedKeys;
  }

  #firstChangeAfter(resourceVersion: number): number {
    let low = this.#logStart;
    let high = this.#log.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#log[middle]!.resourceVersion <= resourceVersion) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** The store key of an event: `namespace/name`, which is also the list order. */
function toKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function jsonAt(versions: Version[] | undefined, resourceVersion: number): string | undefined {
  if (versions === undefined) return undefined;
  for (let i = versions.length - 1; i >= 0; i--) {
    const version = versions[i]!;
    if (version.resourceVersion <= resourceVersion) return version.json;
  }
  return undefined;
}
