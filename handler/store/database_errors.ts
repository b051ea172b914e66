/**
 * Which database failures are transient (the database is away, overloaded, restarting, or chose this transaction
 * as a victim) and so are answered 503 and retried by the relay, as opposed to bugs that must surface.
 */

/** SQLSTATE classes and codes that say "try again later", not "this request is wrong". */
const TRANSIENT_SQLSTATE_CLASSES = ["08", "53", "58"];
const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement_timeout)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
]);

/** Client-side connection failures of postgres.js. */
const TRANSIENT_CLIENT_CODES = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/**
 * A statement was not sent because its connection's socket had closed (the database restarted, the backend was
 * terminated, the network dropped), or a transaction could not start because the store is closing. Its `code`
 * (CONNECTION_CLOSED or CONNECTION_ENDED) is one of the transient client codes above, so the batch is answered 503
 * and retried.
 */
export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
  readonly code: "CONNECTION_CLOSED" | "CONNECTION_ENDED";
  constructor(message: string, options: ErrorOptions & { code?: "CONNECTION_CLOSED" | "CONNECTION_ENDED" } = {}) {
    super(message, options);
    this.code = options.code ?? "CONNECTION_CLOSED";
  }
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/**
 * True when the error means the database could not be reached or failed transiently: socket errors
 * (`ECONNREFUSED`, `ETIMEDOUT`, ...), the client's connection codes, and the SQLSTATEs above.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const code = codeOf(error);
  if (code === undefined) return false;
  if (TRANSIENT_CLIENT_CODES.has(code) || TRANSIENT_SQLSTATES.has(code)) return true;
  if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2))) return true;
  // Node-style socket errors from the runtime: ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ETIMEDOUT, EPIPE, ...
  return /^E[A-Z]+$/.test(code);
}

/**
 * SQLSTATE of "no partition of relation found for row" (a partition vanished after we cached it) and of "updated
 * partition constraint for default partition would be violated" (a default partition holds rows of the day).
 */
export const NO_PARTITION_SQLSTATE = "23514";

/** SQLSTATE of "partition ... would overlap partition ...": another partition already covers the range. */
export const PARTITION_OVERLAP_SQLSTATE = "42P17";

/** The SQLSTATE (or client code) of an error, for logs and branching; undefined when it has none. */
export function toDatabaseErrorCode(error: unknown): string | undefined {
  return codeOf(error);
}
