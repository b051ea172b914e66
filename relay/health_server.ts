/**
 * `/livez` and `/readyz` on the relay's own port.
 */

/** What the probes ask. `reason` says why in the response body (a short text, no payloads). */
export interface HealthState {
  isLive(): boolean;
  readiness(): { isReady: boolean; reason: string };
}

/** Prometheus text for `GET /metrics`, with its content type. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

/**
 * The probe handler: GET or HEAD `/livez`, `/readyz`; 200 or 503 with a one-line text body; `/metrics` when a source
 * is given; 404 elsewhere.
 */
export function createHealthHandler(
  state: HealthState,
  metrics?: MetricsSource,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (path === "/metrics" && metrics !== undefined) {
      return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
    }
    if (path === "/livez") return text(request, state.isLive() ? 200 : 503, state.isLive() ? "live" : "not live");
    if (path === "/readyz") {
      const { isReady, reason } = state.readiness();
      return text(request, isReady ? 200 : 503, reason);
    }
    return text(request, 404, "not found");
  };
}

function text(request: Request, status: number, body: string): Response {
  return new Response(request.method === "HEAD" ? null : `${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** Serves the probes on 0.0.0.0:`port` (0 picks a free port) until `signal` aborts. */
export function startHealthServer(
  options: { port: number; state: HealthState; signal: AbortSignal; hostname?: string; metrics?: MetricsSource },
): {
  port: number;
  finished: Promise<void>;
} {
  const server = Deno.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    signal: options.signal,
    onListen: () => {},
  }, createHealthHandler(options.state, options.metrics));
  return { port: server.addr.port, finished: server.finished };
}
