/**
 * Objects other than events (pods, replicasets, deployments, nodes, namespaces, leases, custom resources): the
 * newest version of each, with optimistic concurrency on writes (a stale resourceVersion answers 409 Conflict).
 */
import type { KubeObject, KubeStatus } from "./kube_types.ts";
import { KubeApiError } from "../routes/kube_status.ts";
import type { ResourceType } from "./resources.ts";
import type { RevisionCounter } from "./revision_counter.ts";
import { toSecondsTimestamp } from "./timestamps.ts";

/** Settings of an ObjectStore; the counter is shared with the event store. */
export interface ObjectStoreOptions {
  counter: RevisionCounter;
  /** ms clock for creationTimestamp. */
  now: () => number;
}

/** Holds the objects; each write takes the next cluster revision. Objects go in and out as copies. */
export class ObjectStore {
  readonly #options: ObjectStoreOptions;
  readonly #objects = new Map<string, KubeObject>();

  constructor(options: ObjectStoreOptions) {
    this.#options = options;
  }

  /** The object, or undefined. */
  get(type: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const object = this.#objects.get(toObjectKey(type, namespace, name));
    return object === undefined ? undefined : structuredClone(object);
  }

  /** The objects of a type (in one namespace when given), ordered by namespace and name. */
  list(type: ResourceType, namespace?: string): KubeObject[] {
    const prefix = `${type.group}/${type.resource}/${namespace === undefined ? "" : `${namespace}/`}`;
    return [...this.#objects].filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([, object]) => structuredClone(object));
  }

  /** Stores an object whether or not it exists, keeping its uid and creationTimestamp when it does. */
  put(type: ResourceType, object: KubeObject): KubeObject {
    const { namespace, name } = identify(type, object);
    const existing = this.#objects.get(toObjectKey(type, namespace, name));
    return this.#write(type, object, existing);
  }

  /** POST: stores a new object; 409 AlreadyExists when the name is taken. */
  create(type: ResourceType, object: KubeObject): KubeObject {
    const { namespace, name } = identify(type, object);
    if (this.#objects.has(toObjectKey(type, namespace, name))) {
      throw new KubeApiError(
        409,
        "AlreadyExists",
        `${type.resource}${groupSuffix(type)} "${name}" already exists`,
        toDetails(type, name),
      );
    }
    return this.#write(type, object, undefined);
  }

  /**
   * PUT: replaces an existing object. 404 when it does not exist; 409 Conflict when the object carries a
   * resourceVersion that is not the stored one (an update without one is unconditional, as for the API server).
   */
  replace(type: ResourceType, object: KubeObject): KubeObject {
    const { namespace, name } = identify(type, object);
    const existing = this.#objects.get(toObjectKey(type, namespace, name));
    if (existing === undefined) throw toNotFoundError(type, name);
    const expected = object.metadata.resourceVersion;
    if (expected !== undefined && expected !== "" && expected !== existing.metadata.resourceVersion) {
      throw new KubeApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${type.resource}${
          groupSuffix(type)
        } "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        toDetails(type, name),
      );
    }
    if (object.metadata.uid && object.metadata.uid !== existing.metadata.uid) {
      throw new KubeApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${type.resource}${
          groupSuffix(type)
        } "${name}": Precondition failed: UID in precondition: ${object.metadata.uid}, UID in object meta: ${existing.metadata.uid}`,
        toDetails(type, name),
      );
    }
    return this.#write(type, object, existing);
  }

  /** DELETE: removes an object and returns its last state; 404 when it does not exist. */
  delete(type: ResourceType, namespace: string, name: string): KubeObject {
    const key = toObjectKey(type, namespace, name);
    const existing = this.#objects.get(key);
    if (existing === undefined) throw toNotFoundError(type, name);
    this.#objects.delete(key);
    return structuredClone(existing);
  }

  #write(type: ResourceType, object: KubeObject, existing: KubeObject | undefined): KubeObject {
    const { namespace, name } = identify(type, object);
    const stored = structuredClone(object);
    stored.apiVersion = type.group === "" ? type.version : `${type.group}/${type.version}`;
    stored.kind = type.kind;
    stored.metadata = {
      ...stored.metadata,
      name,
      uid: existing?.metadata.uid ?? stored.metadata.uid ?? crypto.randomUUID(),
      resourceVersion: String(this.#options.counter.next()),
      creationTimestamp: existing?.metadata.creationTimestamp ?? stored.metadata.creationTimestamp ??
        toSecondsTimestamp(this.#options.now()),
    };
    if (type.isNamespaced) stored.metadata.namespace = namespace;
    else delete stored.metadata.namespace;
    this.#objects.set(toObjectKey(type, namespace, name), stored);
    return structuredClone(stored);
  }
}

function identify(type: ResourceType, object: KubeObject): { namespace: string; name: string } {
  const name = object.metadata?.name;
  if (typeof name !== "string" || name === "") {
    throw new KubeApiError(422, "Invalid", `${type.kind} is invalid: metadata.name: Required value: name is required`);
  }
  const namespace = type.isNamespaced ? object.metadata.namespace || "default" : "";
  return { namespace, name };
}

function toObjectKey(type: ResourceType, namespace: string, name: string): string {
  return `${type.group}/${type.resource}/${namespace}/${name}`;
}

function groupSuffix(type: ResourceType): string {
  return type.group === "" ? "" : `.${type.group}`;
}

/** The 404 KubeApiError for an object that does not exist. */
export function toNotFoundError(type: ResourceType, name: string): KubeApiError {
  return new KubeApiError(
    404,
    "NotFound",
    `${type.resource}${groupSuffix(type)} "${name}" not found`,
    toDetails(type, name),
  );
}

/** A Status's details for an object: name, group (left out for the core group, as the API server does), resource. */
export function toDetails(type: ResourceType, name?: string): NonNullable<KubeStatus["details"]> {
  return {
    ...(name === undefined ? {} : { name }),
    ...(type.group === "" ? {} : { group: type.group }),
    kind: type.resource,
  };
}
