/**
 * The one mapping from any error to the HttpError a client sees: store conditions become their problem codes, an
 * HttpError stays as it is, anything else is INTERNAL_ERROR (its message is never shown).
 */
import { FencedError, RowRefusalsExceededError, StoreUnavailableError } from "../store/store.ts";
import { HttpError } from "./http_error.ts";

/** Seconds a client is asked to wait (Retry-After) when the database is unavailable. */
export const RETRY_AFTER_S = 5;

/** Maps any error to the HttpError a client sees; only HttpError messages are shown as they are. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof FencedError) {
    return new HttpError(
      "FENCED",
      `Cannot write: a newer writer holds the lease for this cluster (holder "${error.newest.holder}", ` +
        `transitions ${error.newest.transitions}); nothing was written`,
      { cause: error },
    );
  }
  if (error instanceof RowRefusalsExceededError) {
    return new HttpError(
      "TOO_MANY_ROWS_REFUSED",
      `${error.message}; nothing was written, send the batch in smaller parts`,
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
