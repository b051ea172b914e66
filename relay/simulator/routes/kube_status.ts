/**
 * The API server's answers in JSON: objects, and `metav1.Status` failures with the reasons clients switch on
 * (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, ...).
 */
import type { KubeStatus } from "../stores/kube_types.ts";

/** A failure the router turns into a Status answer. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  readonly code: number;
  readonly reason: string;
  readonly details: KubeStatus["details"];

  constructor(code: number, reason: string, message: string, details?: KubeStatus["details"]) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

/** Reasons Kubernetes uses for the status codes we answer with. */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The Status object for a failure. */
export function toKubeStatus(
  code: number,
  options: { reason?: string; message?: string; details?: KubeStatus["details"] } = {},
): KubeStatus {
  const status: KubeStatus = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: options.message ?? `simulated failure with status ${code}`,
    reason: options.reason ?? REASONS[code] ?? "Unknown",
    code,
  };
  if (options.details) status.details = options.details;
  return status;
}

/** A JSON answer. `body` may be pre-serialized text. */
export function jsonResponse(body: unknown, status = 200): Response {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-cache, private" },
  });
}

/** A Status answer for a failure; `Retry-After: 1` on 429 and 503 as the API server sends. */
export function statusResponse(status: KubeStatus): Response {
  const response = jsonResponse(status, status.code);
  if (status.code === 429 || status.code === 503) response.headers.set("retry-after", "1");
  return response;
}

/** The Status answer for a KubeApiError. */
export function toErrorResponse(error: KubeApiError): Response {
  return statusResponse(
    toKubeStatus(error.code, { reason: error.reason, message: error.message, details: error.details }),
  );
}
