/**
 * `GET /api/v1/events` and `GET /api/v1/namespaces/<ns>/events`: lists with limit / continue paging and a list
 * resourceVersion, and watches (`watch=true`) with bookmarks, timeouts and resume, answered like the API server.
 */
import { toRepresentation } from "./accept.ts";
import type { CoreV1Event } from "../stores/kube_types.ts";
import { jsonResponse, KubeApiError, statusResponse, toKubeStatus } from "./kube_status.ts";
import { parseEventFieldSelector } from "./field_selector.ts";
import { parseResourceVersion } from "../stores/revision_counter.ts";
import type { SimulatorState } from "../simulator_state.ts";
import { EVENT_COLUMNS, toEventRow, toObjectRepresentation, toPartialObjectMetadata, toTable } from "./tables.ts";
import { createWatchStream } from "./watch_stream.ts";

/** Answers a list or watch of events; `namespace` undefined means all namespaces. */
export function handleEventCollection(
  state: SimulatorState,
  request: Request,
  url: URL,
  namespace: string | undefined,
): Response {
  state.events.expire();
  const query = url.searchParams;
  const filter = parseEventFieldSelector(query.get("fieldSelector"));
  const isWatch = query.get("watch") === "true" || query.get("watch") === "1";
  if (isWatch) return watchEvents(state, request, { query, namespace, filter });
  return listEvents(state, request, { query, namespace, filter });
}

/** `GET /api/v1/namespaces/<ns>/events/<name>`. */
export function handleEventGet(state: SimulatorState, request: Request, namespace: string, name: string): Response {
  state.events.expire();
  const event = state.events.get(namespace, name);
  if (event === undefined) {
    throw new KubeApiError(404, "NotFound", `events "${name}" not found`, { name, kind: "events" });
  }
  return jsonResponse(toObjectRepresentation(request.headers.get("accept"), event, {
    columns: EVENT_COLUMNS,
    row: () => toEventRow(event, state.now()),
  }));
}

interface CollectionRequest {
  query: URLSearchParams;
  namespace: string | undefined;
  filter: ((json: string) => boolean) | undefined;
}

function listEvents(
  state: SimulatorState,
  request: Request,
  { query, namespace, filter }: CollectionRequest,
): Response {
  const limit = parseLimit(query.get("limit"));
  const continueToken = query.get("continue");
  let resourceVersion = state.counter.current;
  let afterKey: string | undefined;
  if (continueToken) {
    ({ resourceVersion, afterKey } = parseContinueToken(continueToken));
  } else {
    resourceVersion = toListVersion(state, query);
  }
  const page = state.events.list({ resourceVersion, namespace, afterKey, limit, filter });
  const nextToken = page.continueKey === undefined ? undefined : toContinueToken(resourceVersion, page.continueKey);
  const listVersion = String(resourceVersion);
  const representation = toRepresentation(request.headers.get("accept"));
  if (representation === "table") {
    const nowMs = state.now();
    const rows = page.items.map((json) => toEventRow(JSON.parse(json) as CoreV1Event, nowMs));
    return jsonResponse(toTable(EVENT_COLUMNS, rows, { resourceVersion: listVersion, continueToken: nextToken }));
  }
  const listMeta: Record<string, unknown> = { resourceVersion: listVersion };
  if (nextToken !== undefined) listMeta.continue = nextToken;
  if (page.remainingItemCount !== undefined) listMeta.remainingItemCount = page.remainingItemCount;
  const metadata = JSON.stringify(listMeta);
  if (representation === "metadata") {
    const items = page.items.map((json) => JSON.stringify(toPartialObjectMetadata(JSON.parse(json).metadata)));
    return jsonResponse(
      `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":${metadata},"items":[${items}]}`,
    );
  }
  return jsonResponse(
    `{"kind":"EventList","apiVersion":"v1","metadata":${metadata},"items":[${page.items.join(",")}]}`,
  );
}

/** The snapshot a list without a continue token reads, by resourceVersion and resourceVersionMatch. */
function toListVersion(state: SimulatorState, query: URLSearchParams): number {
  const text = query.get("resourceVersion");
  const match = query.get("resourceVersionMatch");
  if (text === null || text === "" || text === "0") return state.counter.current;
  const requested = parseResourceVersion(text);
  if (requested === undefined) {
    throw new KubeApiError(400, "BadRequest", `resourceVersion: Invalid value: "${text}": must be an integer`);
  }
  if (requested > state.counter.current) {
    throw new KubeApiError(
      504,
      "Timeout",
      `Too large resource version: ${requested}, current: ${state.counter.current}`,
    );
  }
  if (match === "Exact") {
    if (requested < state.events.floor) {
      throw new KubeApiError(410, "Expired", `too old resource version: ${requested} (${state.events.floor})`);
    }
    return requested;
  }
  return state.counter.current;
}

function watchEvents(
  state: SimulatorState,
  request: Request,
  { query, namespace, filter }: CollectionRequest,
): Response {
  const text = query.get("resourceVersion");
  let resourceVersion: number | undefined;
  if (text !== null && text !== "" && text !== "0") {
    resourceVersion = parseResourceVersion(text);
    if (resourceVersion === undefined) {
      throw new KubeApiError(400, "BadRequest", `resourceVersion: Invalid value: "${text}": must be an integer`);
    }
  }
  const isInitialEventsRequested = query.get("sendInitialEvents") === "true";
  const timeoutSeconds = Number(query.get("timeoutSeconds") ?? Number.NaN);
  const timeoutMs = Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
    ? timeoutSeconds * 1000
    : state.watchTimeoutMs;
  const headers = { "content-type": "application/json", "cache-control": "no-cache, private" };
  if (resourceVersion !== undefined && !isInitialEventsRequested && resourceVersion < state.events.floor) {
    const status = toKubeStatus(410, {
      reason: "Expired",
      message: `too old resource version: ${resourceVersion} (${state.events.floor})`,
    });
    if (state.watchGoneAnswer === "status") return statusResponse(status);
    return new Response(JSON.stringify({ type: "ERROR", object: status }) + "\n", { headers });
  }
  const isTable = toRepresentation(request.headers.get("accept")) === "table";
  let isFirstRow = true;
  const body = createWatchStream({
    store: state.events,
    controls: state.controls,
    counter: state.counter,
    namespace,
    resourceVersion,
    isInitialEventsRequested,
    isBookmarkAllowed: query.get("allowWatchBookmarks") === "true",
    bookmarkIntervalMs: state.bookmarkIntervalMs,
    timeoutMs,
    filter,
    toObjectJson: isTable
      ? (json) => {
        const table = toTable(EVENT_COLUMNS, [toEventRow(JSON.parse(json), state.now())], {
          isHeaderless: !isFirstRow,
        });
        isFirstRow = false;
        return JSON.stringify(table);
      }
      : undefined,
    signal: state.watchSignal(),
  });
  return new Response(body, { headers });
}

function parseLimit(text: string | null): number | undefined {
  if (text === null || text === "" || text === "0") return undefined;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 0) {
    throw new KubeApiError(400, "BadRequest", `limit: Invalid value: "${text}": must be a non-negative integer`);
  }
  return limit;
}

/** The API server's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":<list version>,"start":"<key>\u0000"}`. */
function toContinueToken(resourceVersion: number, lastKey: string): string {
  const json = JSON.stringify({ v: "meta.k8s.io/v1", rv: resourceVersion, start: `${lastKey}\u0000` });
  return btoa(String.fromCharCode(...new TextEncoder().encode(json))).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function parseContinueToken(token: string): { resourceVersion: number; afterKey: string } {
  try {
    const binary = atob(token.replaceAll("-", "+").replaceAll("_", "/"));
    const parsed = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (parsed.v === "meta.k8s.io/v1" && Number.isInteger(parsed.rv) && typeof parsed.start === "string") {
      return {
        resourceVersion: parsed.rv,
        afterKey: parsed.start.endsWith("\u0000") ? parsed.start.slice(0, -1) : parsed.start,
      };
    }
  } catch (error) {
    throw new KubeApiError(400, "BadRequest", `continue key is not valid: ${String(error).slice(0, 100)}`);
  }
  throw new KubeApiError(400, "BadRequest", "continue key is not valid: unexpected content");
}
