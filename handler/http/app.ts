/**
 * The handler's HTTP application: routes, authentication, ingestion, and the one place where errors become
 * RFC 9457 problem responses. Runs in-process (`app.fetch(request)`), under `deno serve` and under `Deno.serve`.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../shared/telemetry/telemetry.ts";
import { CHECKPOINTS_PATH_PREFIX, EVENTS_PATH, type IngestResponse } from "../../shared/contract/protocol.ts";
import type { LineError } from "../../shared/contract/line_error.ts";
import type { HandlerConfig } from "../config.ts";
import { FencedError, type Store, StoreUnavailableError } from "../store/store.ts";
import { HttpError, toProblemResponse } from "./http_error.ts";
import { createTokenAuthenticator } from "./token_auth.ts";
import { readBatchHeaders } from "./batch_headers.ts";
import { toDecodedBodyStream } from "./body_stream.ts";
import { readBodyEncoding } from "./content_headers.ts";
import { readBatchStream } from "../ingest/batch_reader.ts";
import { type AppObserver, type BatchOutcome, toRouteName } from "./app_observer.ts";

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
}

/** A fetch-style handler: never rejects, every failure is a response. */
export interface App {
  fetch(request: Request): Promise<Response>;
}

/** Seconds a client is asked to wait (Retry-After) when the database is unavailable. */
const RETRY_AFTER_S = 5;

/** Seconds a client is asked to wait (Retry-After) when REQUESTS_IN_FLIGHT_MAX batches are already in progress. */
const BUSY_RETRY_AFTER_S = 1;

/**
 * Builds the application. Routes: `POST /v1/events`, `GET /v1/checkpoints/<cluster>`, `GET /livez`,
 * `GET /readyz`; anything else is 404 NOT_FOUND, a known path with another method 405 METHOD_NOT_ALLOWED.
 * Only server errors (5xx) are logged as errors; refused lines are logged as counts per code.
 */
export function createApp(deps: AppDeps): App {
  const { config, store, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const clockMs = deps.clockMs ?? (() => performance.now());
  const auth = createTokenAuthenticator(config.tokenHashes);

  let ingestsInFlight = 0;

  /** Bounds the batches held in memory at once: each may hold up to DECODED_BODY_BYTES_MAX of decoded lines. */
  async function ingestBounded(request: Request): Promise<Response> {
    if (ingestsInFlight >= config.limits.requestsInFlightMax) {
      await request.body?.cancel();
      throw new HttpError(
        "TOO_MANY_REQUESTS",
        `Cannot take the batch: ${config.limits.requestsInFlightMax} are in progress (REQUESTS_IN_FLIGHT_MAX); retry`,
        { headers: { "retry-after": String(BUSY_RETRY_AFTER_S) } },
      );
    }
    ingestsInFlight++;
    try {
      return await ingest(request);
    } finally {
      ingestsInFlight--;
    }
  }

  async function ingest(request: Request): Promise<Response> {
    const started = now().getTime();
    const cluster = await auth.authenticate(request);
    const encoding = readBodyEncoding(request.headers);
    const { fence, resumeVersion } = readBatchHeaders(request.headers);
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > config.limits.bodyBytesMax) {
      throw new HttpError(
        "BODY_TOO_LARGE",
        `Cannot accept the body: Content-Length ${
          Number(length)
        } is over ${config.limits.bodyBytesMax} bytes (BODY_BYTES_MAX)`,
      );
    }
    const body = toDecodedBodyStream(request.body, { encoding, ...config.limits });
    // The store pulls the rows while the body is still arriving, so parsing overlaps the database's work; a body
    // that fails part-way throws out of writeBatch after the transaction was rolled back.
    const batch = readBatchStream(body, { cluster, ...config.limits });
    const outcome: BatchOutcome = {
      cluster,
      rows: batch.rows,
      gaps: batch.gaps,
      rejected: batch.rejected,
      durationS: 0,
    };
    const writeStartedMs = clockMs();
    let result;
    let isBodyRefused = false;
    try {
      result = await store.writeBatch({ cluster, rows: batch.chunks, gaps: batch.gaps, resumeVersion, fence });
    } catch (error) {
      // A refused body (framing, limits) is the client's error, answered like before any write began.
      isBodyRefused = error instanceof HttpError;
      outcome.failure = error instanceof StoreUnavailableError
        ? "unavailable"
        : error instanceof FencedError
        ? "fenced"
        : "error";
      throw error;
    } finally {
      outcome.durationS = (clockMs() - writeStartedMs) / 1000;
      if (result) Object.assign(outcome, { result, committedAt: now() });
      if (!isBodyRefused) observe(() => deps.observer?.onBatch?.(outcome));
    }
    const answer: IngestResponse = {
      accepted: result.inserted + result.gapsInserted,
      duplicates: result.duplicates,
      rejected: batch.rejected,
    };
    const fields = {
      cluster,
      accepted: answer.accepted,
      duplicates: answer.duplicates,
      rejected: batch.rejected.length,
      elapsedMs: now().getTime() - started,
    };
    if (batch.rejected.length > 0) {
      logger.warn("batch stored with rejected lines", { ...fields, codes: countCodes(batch.rejected) });
    } else logger.debug("batch stored", fields);
    return Response.json(answer);
  }

  async function readCheckpoint(request: Request, pathCluster: string): Promise<Response> {
    const cluster = await auth.authenticate(request);
    if (pathCluster !== cluster) {
      throw new HttpError(
        "FORBIDDEN_CLUSTER",
        `Cannot read the checkpoint of "${pathCluster.slice(0, 253)}": the token belongs to cluster "${cluster}"`,
      );
    }
    return Response.json(await store.readCheckpoint(cluster));
  }

  async function route(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const method = request.method;
    if (path === EVENTS_PATH) {
      allow(method, ["POST"]);
      return await ingestBounded(request);
    }
    if (path.startsWith(CHECKPOINTS_PATH_PREFIX)) {
      const cluster = path.slice(CHECKPOINTS_PATH_PREFIX.length);
      if (cluster === "" || cluster.includes("/")) throw notFound(path);
      allow(method, ["GET"]);
      return await readCheckpoint(request, cluster);
    }
    if (path === "/metrics" && deps.renderMetrics) {
      allow(method, ["GET"]);
      return new Response(await deps.renderMetrics(), {
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
      });
    }
    if (path === "/livez") {
      allow(method, ["GET", "HEAD"]);
      return status(method, 200, "live");
    }
    if (path === "/readyz") {
      allow(method, ["GET", "HEAD"]);
      if (await store.isReady()) return status(method, 200, "ready");
      throw new HttpError("NOT_READY", "Cannot serve: the database is unreachable or its schema is not in place");
    }
    throw notFound(path);
  }

  function toErrorResponse(error: unknown, request: Request): Response {
    const httpError = toHttpError(error);
    // NOT_READY is the readiness answer, not a failure; the store logs why it is not ready.
    if (httpError.status >= 500 && httpError.code !== "NOT_READY") {
      logger.error("request failed", {
        method: request.method,
        path: new URL(request.url).pathname,
        status: httpError.status,
        code: httpError.code,
        error: describeError(error),
      });
    }
    return toProblemResponse(httpError);
  }

  /** Observer calls must not break a request; a failing one is logged and the request goes on. */
  function observe(call: () => void): void {
    try {
      call();
    } catch (error) {
      logger.warn("observer failed", { error: describeError(error) });
    }
  }

  return {
    async fetch(request) {
      const startedMs = clockMs();
      let response: Response;
      try {
        response = await route(request);
      } catch (error) {
        response = toErrorResponse(error, request);
      }
      const info = {
        route: toRouteName(new URL(request.url).pathname),
        status: response.status,
        durationS: (clockMs() - startedMs) / 1000,
      };
      observe(() => deps.observer?.onResponse?.(info));
      return response;
    },
  };
}

/** Maps any error to the HttpError a client sees; only HttpError messages are shown as they are. */
function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof FencedError) {
    return new HttpError(
      "FENCED",
      `Cannot write: a newer writer holds the lease for this cluster (holder "${error.newest.holder}", ` +
        `transitions ${error.newest.transitions}); nothing was written`,
      { cause: error },
    );
  }
  if (error instanceof StoreUnavailableError) {
    return new HttpError(
      "DATABASE_UNAVAILABLE",
      "Cannot store the batch: the database is unavailable; nothing was written",
      {
        cause: error,
        headers: { "retry-after": String(RETRY_AFTER_S) },
      },
    );
  }
  return new HttpError("INTERNAL_ERROR", "Cannot handle the request: an internal error occurred", { cause: error });
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError("METHOD_NOT_ALLOWED", `Cannot ${method} here: allowed are ${methods.join(", ")}`, {
      headers: { allow: methods.join(", ") },
    });
  }
}

function notFound(path: string): HttpError {
  return new HttpError("NOT_FOUND", `Cannot find ${path.slice(0, 200)}`);
}

function status(method: string, code: number, state: string): Response {
  if (method === "HEAD") return new Response(null, { status: code });
  return Response.json({ status: state }, { status: code });
}

function countCodes(rejected: LineError[]): string {
  const counts = new Map<string, number>();
  for (const error of rejected) counts.set(error.code, (counts.get(error.code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${code}:${n}`).join(",");
}
