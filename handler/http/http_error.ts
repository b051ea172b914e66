/**
 * Errors that reach a client, each with a stable SCREAMING_SNAKE code, and their RFC 9457 problem responses.
 */
import { type Problem, PROBLEM_CONTENT_TYPE } from "../../shared/contract/protocol.ts";

/** Every problem code the handler answers, with its HTTP status and title. handler/README.md lists them all. */
export const PROBLEM_CODES = {
  MISSING_TOKEN: { status: 401, title: "Missing bearer token" },
  INVALID_TOKEN: { status: 401, title: "Invalid bearer token" },
  FORBIDDEN_CLUSTER: { status: 403, title: "Token not allowed for this cluster" },
  NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  INVALID_HEADER: { status: 400, title: "Invalid request header" },
  INVALID_GZIP: { status: 400, title: "Invalid gzip body" },
  BODY_MALFORMED: { status: 400, title: "Malformed request body framing" },
  BODY_READ_TIMEOUT: { status: 408, title: "Request body too slow" },
  FENCED: { status: 409, title: "Writer fenced" },
  BODY_TOO_LARGE: { status: 413, title: "Request body too large" },
  DECODED_BODY_TOO_LARGE: { status: 413, title: "Decoded request body too large" },
  TOO_MANY_RECORDS: { status: 413, title: "Too many records" },
  TOO_MANY_ROWS_REFUSED: { status: 413, title: "Too many rows refused by the database" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  UNSUPPORTED_ENCODING: { status: 415, title: "Unsupported content encoding" },
  TOO_MANY_REQUESTS: { status: 429, title: "Too many requests in flight" },
  INTERNAL_ERROR: { status: 500, title: "Internal error" },
  BODY_READ_FAILED: { status: 503, title: "Request body could not be read" },
  OVER_MEMORY_BUDGET: { status: 503, title: "Memory budget in use" },
  DATABASE_UNAVAILABLE: { status: 503, title: "Database unavailable" },
  NOT_READY: { status: 503, title: "Not ready" },
  SHUTTING_DOWN: { status: 503, title: "Shutting down" },
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;

/** Problem `type` URIs are `urn:events-ingester:problem:<CODE>`, stable like the codes. */
export const PROBLEM_TYPE_PREFIX = "urn:events-ingester:problem:";

/**
 * A request that is refused with a problem response. `message` becomes the problem's `detail`, so it must hold no
 * payload and no secret; `headers` are added to the response (WWW-Authenticate, Allow, Retry-After).
 */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ProblemCode,
    message: string,
    options?: ErrorOptions & { headers?: Record<string, string> },
  ) {
    super(message, options);
    this.status = PROBLEM_CODES[code].status;
    this.headers = options?.headers ?? {};
  }
}

/** The RFC 9457 body for a code and detail. */
export function toProblem(code: ProblemCode, detail: string): Problem {
  const { status, title } = PROBLEM_CODES[code];
  return { type: `${PROBLEM_TYPE_PREFIX}${code}`, title, status, code, detail };
}

/** An `application/problem+json` response for an HttpError. */
export function toProblemResponse(error: HttpError): Response {
  return new Response(JSON.stringify(toProblem(error.code, error.message)), {
    status: error.status,
    headers: { ...error.headers, "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store" },
  });
}
