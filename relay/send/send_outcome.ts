/**
 * How the handler answered one batch, as the relay's sender reports it.
 */

/**
 * How a batch ended: stored (with the lines refused one by one, including single records refused as too large), refused
 * as a whole for a reason that is the batch's own (400, 415, any 4xx but 401, 403, 409 and 413), or fenced (409).
 */
export type SendOutcome =
  | { status: "stored"; response: StoredResponse }
  | { status: "refused"; httpStatus: number; code: string }
  | { status: "fenced" };

/**
 * The handler's answer for a stored batch, summed over its parts when it was split. `rejected` also holds records
 * refused before reaching the line checks (a single record refused with 413, a part refused with 400), under the
 * request's problem code; `line` counts from 1 within the whole batch.
 */
export interface StoredResponse {
  accepted: number;
  duplicates: number;
  rejected: { line: number; code: string; message: string }[];
}
