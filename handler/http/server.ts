/**
 * The handler on a real socket, with graceful shutdown: on abort, new requests (and `/readyz`) are answered
 * 503 SHUTTING_DOWN (the relay retries them), `/livez` still answers, requests in flight finish within the
 * shutdown deadline, then the listener closes and `finished` resolves (the caller closes the store).
 *
 * Requests in flight are counted here rather than left to `server.shutdown()`, because Deno 2.9's shutdown makes
 * the bodies of HTTP/1.1 requests still being read unreadable at once (denoland/deno#36809), which would refuse
 * a batch that was half uploaded. The listener is closed only once no request is in flight.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import type { App } from "./app.ts";
import { toHttpError } from "./error_mapping.ts";
import { HttpError, toProblemResponse } from "./http_error.ts";
import { readRequestPath } from "./request_path.ts";
import { createInFlight } from "./in_flight.ts";

/** What to serve, where, and how shutdown is triggered and bounded. */
export interface ServeAppOptions {
  app: App;
  /** 0 picks a free port. */
  port: number;
  hostname?: string;
  /** Longest wait for requests in flight after `signal` aborts. */
  shutdownDeadlineS: number;
  logger: Logger;
  /** Aborting starts the graceful shutdown. */
  signal: AbortSignal;
}

/** A running server. */
export interface ServingApp {
  /** The port actually bound. */
  port: number;
  /** Resolves once shutdown is over: all requests finished, or the deadline passed (`isDrained` false). */
  finished: Promise<{ isDrained: boolean }>;
  /** Resolves when the last connection has closed, which after a missed deadline may be later than `finished`. */
  closed: Promise<void>;
}

/** Seconds a client refused during shutdown is asked to wait before retrying. */
export const SHUTDOWN_RETRY_AFTER_S = 1;

/** The answer to a request that arrives while the handler shuts down. */
export function toShuttingDownResponse(): Response {
  return toProblemResponse(
    new HttpError("SHUTTING_DOWN", "Cannot take the request: this handler is shutting down; retry", {
      headers: { "retry-after": String(SHUTDOWN_RETRY_AFTER_S) },
    }),
  );
}

/**
 * The last-resort answer when serving a request threw although `App.fetch` never rejects: an INTERNAL_ERROR problem,
 * logged as one JSON line, instead of the runtime's plain-text 500 and a stack trace on stderr.
 */
export function toUnexpectedErrorResponse(error: unknown, logger: Logger): Response {
  const httpError = toHttpError(error);
  logger.error("request failed outside the app", { code: httpError.code, error: describeError(error) });
  return toProblemResponse(httpError);
}

/** Serves `app` with `Deno.serve` until `signal` aborts. */
export function serveApp(options: ServeAppOptions): ServingApp {
  const { logger } = options;
  const inFlight = createInFlight();
  let isDraining = false;
  const server = Deno.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    onListen: () => {},
    onError: (error) => toUnexpectedErrorResponse(error, logger),
  }, async (request) => {
    // While draining, liveness still answers (the process is fine); everything else, readiness included, is 503.
    if (isDraining && readRequestPath(request) !== "/livez") {
      await request.body?.cancel();
      return toShuttingDownResponse();
    }
    return await inFlight.track(() => options.app.fetch(request));
  });
  const port = server.addr.port;
  logger.info("listening", { port });

  const stop = async (): Promise<{ isDrained: boolean }> => {
    isDraining = true;
    logger.info("shutting down: finishing requests in flight", {
      inFlight: inFlight.count,
      shutdownDeadlineS: options.shutdownDeadlineS,
    });
    const started = Date.now();
    let isDrained = await inFlight.waitUntilIdle(options.shutdownDeadlineS);
    if (isDrained) {
      const leftS = Math.max(0, options.shutdownDeadlineS - (Date.now() - started) / 1000);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), leftS * 1000));
      isDrained = await Promise.race([server.shutdown().then(() => true), deadline]);
      clearTimeout(timer);
    } else {
      // Close the listener once the stragglers end; the caller exits the process before that, as it chooses.
      void inFlight.waitUntilIdle().then(() => server.shutdown());
    }
    if (!isDrained) logger.warn("shutdown deadline passed with requests still in flight", { inFlight: inFlight.count });
    return { isDrained };
  };
  const finished = new Promise<{ isDrained: boolean }>((resolve) => {
    if (options.signal.aborted) resolve(stop());
    else options.signal.addEventListener("abort", () => resolve(stop()), { once: true });
  });
  return { port, finished, closed: server.finished };
}
