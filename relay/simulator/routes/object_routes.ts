/**
 * Object paths other than events: GET (full, PartialObjectMetadata or Table), list, and POST / PUT / DELETE with
 * optimistic concurrency, for every type the registry serves (pods, replicasets, deployments, nodes, leases,
 * compositions, ...).
 */
import { toRepresentation } from "./accept.ts";
import type { KubeObject } from "../stores/kube_types.ts";
import { jsonResponse, KubeApiError } from "./kube_status.ts";
import { toNotFoundError } from "../stores/object_store.ts";
import type { ResourceType } from "../stores/resources.ts";
import type { SimulatorState } from "../simulator_state.ts";
import { OBJECT_COLUMNS, toObjectRepresentation, toObjectRow, toPartialObjectMetadata, toTable } from "./tables.ts";

/** Where an object request points: the type, the namespace ("" for cluster-scoped) and the name when an item. */
export interface ObjectTarget {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
}

/** Answers a request on an object or a collection of objects. */
export async function handleObjectRequest(
  state: SimulatorState,
  request: Request,
  url: URL,
  target: ObjectTarget,
): Promise<Response> {
  const { type, namespace, name } = target;
  const method = request.method;
  if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
    throw new KubeApiError(405, "MethodNotAllowed", `the simulator does not watch ${type.resource}`);
  }
  if (name === undefined) {
    if (method === "GET") return listObjects(state, request, target);
    if (method === "POST") {
      const object = await readObject(request, type, namespace);
      return jsonResponse(state.objects.create(type, object), 201);
    }
  } else {
    const scope = namespace ?? "";
    if (method === "GET") return getObject(state, request, type, scope, name);
    if (method === "PUT") {
      const object = await readObject(request, type, namespace);
      if (object.metadata.name !== name) {
        throw new KubeApiError(
          400,
          "BadRequest",
          `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      return jsonResponse(state.objects.replace(type, object));
    }
    if (method === "DELETE") return jsonResponse(state.objects.delete(type, scope, name));
  }
  throw new KubeApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
}

function getObject(
  state: SimulatorState,
  request: Request,
  type: ResourceType,
  namespace: string,
  name: string,
): Response {
  const object = state.objects.get(type, namespace, name);
  if (object === undefined) throw toNotFoundError(type, name);
  return jsonResponse(toObjectRepresentation(request.headers.get("accept"), object, {
    columns: OBJECT_COLUMNS,
    row: () => toObjectRow(object, state.now()),
  }));
}

function listObjects(state: SimulatorState, request: Request, { type, namespace }: ObjectTarget): Response {
  const objects = state.objects.list(type, namespace === "" ? undefined : namespace);
  const resourceVersion = String(state.counter.current);
  const representation = toRepresentation(request.headers.get("accept"));
  if (representation === "table") {
    const nowMs = state.now();
    return jsonResponse(toTable(OBJECT_COLUMNS, objects.map((o) => toObjectRow(o, nowMs)), { resourceVersion }));
  }
  if (representation === "metadata") {
    return jsonResponse({
      kind: "PartialObjectMetadataList",
      apiVersion: "meta.k8s.io/v1",
      metadata: { resourceVersion },
      items: objects.map((o) => toPartialObjectMetadata(o.metadata)),
    });
  }
  return jsonResponse({
    kind: `${type.kind}List`,
    apiVersion: type.group === "" ? type.version : `${type.group}/${type.version}`,
    metadata: { resourceVersion },
    items: objects,
  });
}

async function readObject(request: Request, type: ResourceType, namespace: string | undefined): Promise<KubeObject> {
  let object: KubeObject;
  try {
    object = await request.json();
  } catch (error) {
    throw new KubeApiError(400, "BadRequest", `Cannot read the request body as JSON: ${String(error).slice(0, 200)}`);
  }
  if (typeof object !== "object" || object === null || typeof object.metadata !== "object") {
    throw new KubeApiError(400, "BadRequest", `Cannot read the request body: it is not a ${type.kind} object`);
  }
  if (type.isNamespaced) {
    if (object.metadata.namespace && object.metadata.namespace !== namespace) {
      throw new KubeApiError(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    object.metadata.namespace = namespace;
  }
  assertValidName(type, object.metadata.name);
  return object;
}

/** An RFC 1123 subdomain (object names) and label (namespace names), as the API server validates them. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Throws 422 Invalid, with the API server's details and cause, for a name it would refuse (a missing one passes). */
function assertValidName(type: ResourceType, name: unknown): void {
  if (typeof name !== "string" || name === "") return;
  const isNamespace = type.group === "" && type.resource === "namespaces";
  const isValid = isNamespace ? LABEL.test(name) && name.length <= 63 : SUBDOMAIN.test(name) && name.length <= 253;
  if (isValid) return;
  const rule = isNamespace ? "a lowercase RFC 1123 label" : "a lowercase RFC 1123 subdomain";
  const message = `Invalid value: ${JSON.stringify(name)}: ${rule} must consist of lower case alphanumeric ` +
    "characters, '-'" + (isNamespace ? "" : " or '.'") + ", and must start and end with an alphanumeric character";
  const qualifiedKind = type.group === "" ? type.kind : `${type.kind}.${type.group}`;
  throw new KubeApiError(
    422,
    "Invalid",
    `${qualifiedKind} ${JSON.stringify(name)} is invalid: metadata.name: ${message}`,
    {
      name,
      ...(type.group === "" ? {} : { group: type.group }),
      kind: type.kind,
      causes: [{ reason: "FieldValueInvalid", message, field: "metadata.name" }],
    },
  );
}
