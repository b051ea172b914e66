/**
 * The handler's HTTP application: routes, and the one place where errors become RFC 9457 problem responses. Runs
 * in-process (`app.fetch(request)`), under `deno serve` and under `Deno.serve`. The ingest route is
 * `events_route.ts`, its admission `ingest_gate.ts`, the error mapping `error_mapping.ts`.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../shared/telemetry/telemetry.ts";
import { CHECKPOINTS_PATH_PREFIX, EVENTS_PATH } from "../../shared/contract/protocol.ts";
import type { HandlerConfig } from "../config.ts";
import type { Store } from "../store/store.ts";
import { HttpError, toProblemResponse } from "./http_error.ts";
import { createTokenAuthenticator, type TokenAuthenticator } from "./token_auth.ts";
import { createMemoryBudget, type MemoryBudget } from "./events/memory_budget.ts";
import { readRequestPath } from "./request_path.ts";
import { type AppObserver, toRouteName } from "./app_observer.ts";
import { toHttpError } from "./error_mapping.ts";
import { IngestGate } from "./events/ingest_gate.ts";
import { createEventsRoute } from "./events/events_route.ts";
import { RefusalLog, TOKEN_REFUSAL_CODES } from "./refusal_log.ts";

/** What the app is built from; `observer` and `renderMetrics` are for the telemetry wiring. */
export interface AppDeps {
  config: HandlerConfig;
  store: Store;
  logger: Logger;
  /** Clock for request durations in logs; tests pass a fixed one. */
  now?: () => Date;
  /** Monotonic clock in milliseconds for the durations reported to `observer`; `performance.now` by default. */
  clockMs?: () => number;
  /** Told about every response and every batch write, for metrics. */
  observer?: AppObserver;
  /** Prometheus text for `GET /metrics`; without it that path is 404. */
  renderMetrics?: () => Promise<string>;
  /** The memory budget of the requests in flight; built from `config.limits` when omitted (tests watch their own). */
  memory?: MemoryBudget;
}

/** A fetch-style handler: never rejects, every failure is a response. */
export interface App {
  fetch(request: Request): Promise<Response>;
}

/** Milliseconds between two warnings about requests refused for their token, per cluster. */
const TOKEN_REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Builds the application. Routes: `POST /v1/events`, `GET /v1/checkpoints/<cluster>`, `GET /metrics`, `GET /livez`,
 * `GET /readyz`; anything else is 404 NOT_FOUND, a known path with another method 405 METHOD_NOT_ALLOWED.
 * Only server errors (5xx) are logged as errors, but for OVER_MEMORY_BUDGET, a warning (load shed on purpose); refused lines are logged as counts per code, and requests refused
 * for their token as one warning per cluster and minute.
 */
export function createApp(deps: AppDeps): App {
  const { config, store, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const clockMs = deps.clockMs ?? (() => performance.now());
  const auth = createTokenAuthenticator(config.tokenHashes);
  const memory = deps.memory ?? createMemoryBudget(config.limits);
  const gate = new IngestGate({ requestsInFlightMax: config.limits.requestsInFlightMax, memory });
  const ingest = createEventsRoute({
    config,
    store,
    logger,
    auth,
    now,
    clockMs,
    onBatch: (outcome) => observe(logger, () => deps.observer?.onBatch?.(outcome)),
  });
  const refusals = new RefusalLog({ logger, intervalMs: TOKEN_REFUSAL_LOG_INTERVAL_MS, clockMs });
  const routes: RouteDeps = {
    store,
    auth,
    renderMetrics: deps.renderMetrics,
    ingest: (request) => gate.run(request, (reservation) => ingest(request, reservation)),
  };

  return {
    async fetch(request) {
      const startedMs = clockMs();
      // Read once: the error path and the metrics must not parse a URL the runtime built from a hostile Host again.
      const path = readRequestPath(request);
      let response: Response;
      try {
        if (path === null) throw invalidHost();
        response = await route(request, path, routes);
      } catch (error) {
        const httpError = toHttpError(error);
        if (TOKEN_REFUSAL_CODES.has(httpError.code)) refusals.note(httpError.code, toNamedCluster(path));
        response = toErrorResponse(httpError, { request, path, logger, error });
      }
      const info = {
        route: path === null ? "other" as const : toRouteName(path),
        status: response.status,
        durationS: (clockMs() - startedMs) / 1000,
      };
      observe(logger, () => deps.observer?.onResponse?.(info));
      return response;
    },
  };
}

interface RouteDeps {
  store: Store;
  auth: TokenAuthenticator;
  renderMetrics: (() => Promise<string>) | undefined;
  /** `POST /v1/events` through its admission gate. */
  ingest: (request: Request) => Promise<Response>;
}

/** Maps a request to its route. */
async function route(request: Request, path: string, deps: RouteDeps): Promise<Response> {
  const method = request.method;
  if (path === EVENTS_PATH) {
    allow(method, ["POST"]);
    return await deps.ingest(request);
  }
  if (path.startsWith(CHECKPOINTS_PATH_PREFIX)) {
    const cluster = path.slice(CHECKPOINTS_PATH_PREFIX.length);
    if (cluster === "" || cluster.includes("/")) throw notFound(path);
    allow(method, ["GET"]);
    return await readCheckpoint(request, cluster, deps);
  }
  if (path === "/metrics" && deps.renderMetrics) {
    allow(method, ["GET"]);
    return new Response(await deps.renderMetrics(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
  }
  if (path === "/livez") {
    allow(method, ["GET", "HEAD"]);
    return status(method, 200, "live");
  }
  if (path === "/readyz") {
    allow(method, ["GET", "HEAD"]);
    if (await deps.store.isReady()) return status(method, 200, "ready");
    throw new HttpError("NOT_READY", "Cannot serve: the database is unreachable or its schema is not in place");
  }
  throw notFound(path);
}

async function readCheckpoint(request: Request, pathCluster: string, deps: RouteDeps): Promise<Response> {
  const cluster = await deps.auth.authenticate(request);
  if (pathCluster !== cluster) {
    throw new HttpError(
      "FORBIDDEN_CLUSTER",
      `Cannot read the checkpoint of "${pathCluster.slice(0, 253)}": the token belongs to cluster "${cluster}"`,
    );
  }
  return Response.json(await deps.store.readCheckpoint(cluster));
}

/** The cluster a request names in its path (`/v1/checkpoints/<cluster>`), for the token refusal log; else null. */
function toNamedCluster(path: string | null): string | null {
  if (path === null || !path.startsWith(CHECKPOINTS_PATH_PREFIX)) return null;
  return path.slice(CHECKPOINTS_PATH_PREFIX.length, CHECKPOINTS_PATH_PREFIX.length + 253) || null;
}

function toErrorResponse(
  httpError: HttpError,
  context: { request: Request; path: string | null; logger: Logger; error: unknown },
): Response {
  // NOT_READY is the readiness answer, not a failure; the store logs why it is not ready.
  if (httpError.code === "OVER_MEMORY_BUDGET") {
    // Load shed on purpose: the client retries after Retry-After, and the gauge shows how full the budget is.
    context.logger.warn("request refused: the memory budget is in use", {
      method: context.request.method,
      path: context.path?.slice(0, 200) ?? null,
      status: httpError.status,
      code: httpError.code,
    });
  } else if (httpError.status >= 500 && httpError.code !== "NOT_READY") {
    context.logger.error("request failed", {
      method: context.request.method,
      path: context.path?.slice(0, 200) ?? null,
      status: httpError.status,
      code: httpError.code,
      error: describeError(context.error),
    });
  }
  return toProblemResponse(httpError);
}

/** Observer calls must not break a request; a failing one is logged and the request goes on. */
function observe(logger: Logger, call: () => void): void {
  try {
    call();
  } catch (error) {
    logger.warn("observer failed", { error: describeError(error) });
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError("METHOD_NOT_ALLOWED", `Cannot ${method} here: allowed are ${methods.join(", ")}`, {
      headers: { allow: methods.join(", ") },
    });
  }
}

/** The refusal of a request whose Host header is not a host[:port] (RFC 9110 §7.2: 400). */
function invalidHost(): HttpError {
  return new HttpError("INVALID_HEADER", "Cannot route the request: the Host header is not a valid host[:port]");
}

function notFound(path: string): HttpError {
  return new HttpError("NOT_FOUND", `Cannot find ${path.slice(0, 200)}`);
}

function status(method: string, code: number, state: string): Response {
  if (method === "HEAD") return new Response(null, { status: code });
  return Response.json({ status: state }, { status: code });
}
