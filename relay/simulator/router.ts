/**
 * Maps a request to its answer: discovery, events, other objects, health. Applies the test controls (latency,
 * injected errors, request log) and turns every KubeApiError into a Status answer, in one place.
 */
import { handleEventCollection, handleEventGet } from "./routes/event_routes.ts";
import { toCoreVersions, toGroupList, toResourceList, toVersionInfo } from "./routes/discovery.ts";
import { jsonResponse, KubeApiError, statusResponse, toErrorResponse, toKubeStatus } from "./routes/kube_status.ts";
import { handleObjectRequest } from "./routes/object_routes.ts";
import type { KubeStatus } from "./stores/kube_types.ts";
import type { SimulatorState } from "./simulator_state.ts";
import { pause } from "../../shared/delay.ts";

/** Answers one request, after the configured latency, unless an injected error answers first. */
export async function routeRequest(state: SimulatorState, request: Request, signal: AbortSignal): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname + url.search;
  const { controls } = state;
  if (controls.latencyMs > 0) await pause(controls.latencyMs, signal);
  let response: Response;
  const injected = controls.takeInjectedStatus(request.method, path);
  if (injected !== undefined) {
    const details = INJECTED_DETAIL_CODES.has(injected) ? toPathDetails(url) : undefined;
    response = statusResponse(toKubeStatus(injected, { message: `injected failure with status ${injected}`, details }));
  } else {
    try {
      response = await dispatch(state, request, url);
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      response = toErrorResponse(error);
    }
  }
  controls.logRequest({ method: request.method, path, status: response.status });
  return response;
}

function dispatch(state: SimulatorState, request: Request, url: URL): Response | Promise<Response> {
  const segments = url.pathname.split("/").filter((s) => s !== "").map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch (error) {
      throw new KubeApiError(400, "BadRequest", `Cannot read the path: ${String(error).slice(0, 100)}`);
    }
  });
  const isGet = request.method === "GET";
  if (segments[0] === "version" && segments.length === 1 && isGet) return jsonResponse(toVersionInfo());
  if (["healthz", "livez", "readyz"].includes(segments[0] ?? "") && segments.length === 1) {
    return new Response("ok", { headers: { "content-type": "text/plain" } });
  }
  let group: string;
  let version: string | undefined;
  let rest: string[];
  if (segments[0] === "api") {
    if (segments.length === 1 && isGet) return jsonResponse(toCoreVersions(url.host));
    group = "";
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === "apis") {
    if (segments.length === 1 && isGet) return jsonResponse(toGroupList(state.registry));
    group = segments[1] ?? "";
    version = segments[2];
    rest = segments.slice(3);
  } else {
    throw notFound(url);
  }
  if (version === undefined) throw notFound(url);
  if (rest.length === 0) {
    const resources = isGet ? toResourceList(state.registry, group, version) : undefined;
    if (resources === undefined) throw notFound(url);
    return jsonResponse(resources);
  }
  if (rest[0] === "watch") {
    url.searchParams.set("watch", "true");
    rest = rest.slice(1);
  }
  return dispatchResource(state, request, url, { group, version, rest });
}

function dispatchResource(
  state: SimulatorState,
  request: Request,
  url: URL,
  { group, version, rest }: { group: string; version: string; rest: string[] },
): Response | Promise<Response> {
  let namespace: string | undefined;
  let resource: string;
  let name: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    [, namespace, resource = "", name] = rest;
    if (rest.length > 4) throw notFound(url);
  } else {
    [resource = "", name] = rest;
    if (rest.length > 2) throw notFound(url);
  }
  const type = state.registry.byResource(group, version, resource);
  if (type === undefined) throw notFound(url);
  if (!type.isNamespaced && namespace !== undefined) throw notFound(url);
  if (type.isNamespaced && namespace === undefined && name !== undefined) throw notFound(url);
  if (group === "" && resource === "events") {
    if (name !== undefined && request.method === "GET") return handleEventGet(state, request, namespace!, name);
    if (name === undefined && request.method === "GET") return handleEventCollection(state, request, url, namespace);
    throw new KubeApiError(405, "MethodNotAllowed", "the simulator serves events read-only");
  }
  return handleObjectRequest(state, request, url, { type, namespace: type.isNamespaced ? namespace : "", name });
}

/** Injected statuses that name the resource in their details, as the API server's 403, 404 and 409 do. */
const INJECTED_DETAIL_CODES = new Set([403, 404, 409]);

/**
 * The Status details the API server gives for a path: the resource (`kind`), its group unless core, and the name
 * when the path names one. Undefined for paths that are not resource paths.
 */
export function toPathDetails(url: URL): KubeStatus["details"] {
  const segments = url.pathname.split("/").filter((segment) => segment !== "");
  let group = "";
  let rest: string[];
  if (segments[0] === "api") rest = segments.slice(2);
  else if (segments[0] === "apis" && segments.length > 3) [group = "", rest] = [segments[1], segments.slice(3)];
  else return undefined;
  if (rest[0] === "watch") rest = rest.slice(1);
  const [resource, name] = rest[0] === "namespaces" && rest.length >= 3 ? [rest[2], rest[3]] : [rest[0], rest[1]];
  if (resource === undefined) return undefined;
  return {
    ...(name === undefined ? {} : { name: decodeURIComponent(name) }),
    ...(group === "" ? {} : { group }),
    kind: resource,
  };
}

function notFound(url: URL): KubeApiError {
  return new KubeApiError(404, "NotFound", `the server could not find the requested resource (${url.pathname})`);
}
