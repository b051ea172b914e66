/**
 * The admission of `POST /v1/events` batches: at most REQUESTS_IN_FLIGHT_MAX in progress (429 beyond), and together
 * inside the memory budget REQUESTS_MEMORY_BYTES_MAX (503 beyond). A refused request's body is cancelled unread.
 */
import { HttpError } from "../http_error.ts";
import { toOverBudgetHttpError } from "./body_stream.ts";
import type { MemoryBudget, MemoryReservation } from "./memory_budget.ts";

/** Seconds a client is asked to wait (Retry-After) when REQUESTS_IN_FLIGHT_MAX batches are already in progress. */
export const BUSY_RETRY_AFTER_S = 1;

/** Counts the batches in progress and opens each one's memory reservation. */
export class IngestGate {
  #inFlight = 0;

  constructor(private readonly options: { requestsInFlightMax: number; memory: MemoryBudget }) {}

  /** Batches in progress now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Runs `ingest` with the request's memory reservation, released when it settles. Throws HttpError
   * TOO_MANY_REQUESTS or OVER_MEMORY_BUDGET (both with Retry-After) without calling it when a bound is reached.
   */
  async run(request: Request, ingest: (reservation: MemoryReservation) => Promise<Response>): Promise<Response> {
    const { requestsInFlightMax, memory } = this.options;
    if (this.#inFlight >= requestsInFlightMax) {
      await request.body?.cancel();
      throw new HttpError(
        "TOO_MANY_REQUESTS",
        `Cannot take the batch: ${requestsInFlightMax} are in progress (REQUESTS_IN_FLIGHT_MAX); retry`,
        { headers: { "retry-after": String(BUSY_RETRY_AFTER_S) } },
      );
    }
    if (memory.isExhausted) {
      await request.body?.cancel();
      throw toOverBudgetHttpError(
        `Cannot take the batch: the ${this.#inFlight} in progress use the memory budget ` +
          `(REQUESTS_MEMORY_BYTES_MAX, ${memory.bytesMax} bytes); nothing was written; retry`,
      );
    }
    this.#inFlight++;
    const reservation = memory.open();
    try {
      return await ingest(reservation);
    } finally {
      reservation.release();
      this.#inFlight--;
    }
  }
}
