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

/** SQLSTATE of "canceling statement due to lock timeout" (lock_timeout) and of a NOWAIT lock not granted. */
export const LOCK_NOT_AVAILABLE_SQLSTATE = "55P03";

/**
 * SQLSTATEs of a relation created under the same name by another session meanwhile: "relation ... already exists"
 * (duplicate_table), or the catalog's unique index refusing the second name (unique_violation).
 */
export const NAME_TAKEN_SQLSTATES: ReadonlySet<string> = new Set(["42P07", "23505"]);

/** SQLSTATE of "partition ... would overlap partition ...": another partition already covers the range. */
export const PARTITION_OVERLAP_SQLSTATE = "42P17";

/** The SQLSTATE (or client code) of an error, for logs and branching; undefined when it has none. */
export function toDatabaseErrorCode(error: unknown): string | undefined {
  return codeOf(error);
}

/** SQLSTATE of a unique violation: in the direct COPY, a row of the batch is stored already. */
export const UNIQUE_VIOLATION_SQLSTATE = "23505";

/** SQLSTATE of "current transaction is aborted": a statement sent after one that failed, not a cause of its own. */
export const IN_FAILED_TRANSACTION_SQLSTATE = "25P02";

/**
 * SQLSTATE classes of failures caused by the values of a row: data exceptions (22: a value the column type refuses,
 * too long for a `varchar(n)`, out of range), integrity violations (23: not-null, check, foreign key, unique) and
 * PL/pgSQL errors (P0: `RAISE EXCEPTION` or `ASSERT` in a trigger of an adopted table).
 */
const ROW_REFUSAL_SQLSTATE_CLASSES = ["22", "23", "P0"];

/** Single SQLSTATEs a row's values can cause: 54000 program_limit_exceeded (an index entry or a row too large). */
const ROW_REFUSAL_SQLSTATES = new Set(["54000"]);

/**
 * True when the database refused a statement because of the values of one of the rows it wrote, so that the same
 * rows fail again on every retry, and the rows without the refused one succeed: SQLSTATE classes 22, 23 and P0, and
 * 54000. A check violation (23514) without a constraint name is not one: it is PostgreSQL's "no partition of
 * relation found for row" or a partition constraint, which mean a partition vanished (NO_PARTITION_SQLSTATE).
 */
export function isRowRefusalError(error: unknown): boolean {
  const code = codeOf(error);
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) return false;
  if (code === NO_PARTITION_SQLSTATE && fieldOf(error, "constraint_name") === undefined) return false;
  return ROW_REFUSAL_SQLSTATE_CLASSES.includes(code.slice(0, 2)) || ROW_REFUSAL_SQLSTATES.has(code);
}

/** Condition names of the SQLSTATEs a refused row most often gets, for messages an operator reads. */
const CONDITION_NAMES: Record<string, string> = {
  "22001": "string_data_right_truncation",
  "22003": "numeric_value_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22012": "division_by_zero",
  "22021": "character_not_in_repertoire",
  "22023": "invalid_parameter_value",
  "22P02": "invalid_text_representation",
  "22P05": "untranslatable_character",
  "23502": "not_null_violation",
  "23503": "foreign_key_violation",
  "23505": "unique_violation",
  "23514": "check_violation",
  "23P01": "exclusion_violation",
  "54000": "program_limit_exceeded",
  "P0001": "raise_exception",
  "P0004": "assert_failure",
};

/**
 * The innermost context line of an error raised in PL/pgSQL names its function: `PL/pgSQL function reject_poison()
 * line 3 at RAISE`. Anchored at the start: later context lines (`COPY k8s_events, line 3: "..."`) quote row values.
 */
const PLPGSQL_FUNCTION = /^PL\/pgSQL function ([A-Za-z0-9_."$]{1,130})\(/;

/**
 * Why the database refused a row, for the rejected line's message: the SQLSTATE with its condition name, then the
 * constraint, column and data type the error names and the PL/pgSQL function that raised it, e.g. `SQLSTATE 23502
 * not_null_violation, column "event_type"`. Built only from the error's code and schema identifiers, never from its
 * message or detail, which quote the row's values.
 */
export function toRowRefusalReason(error: unknown): string {
  const code = codeOf(error) ?? "unknown";
  const parts = [`SQLSTATE ${code}${CONDITION_NAMES[code] ? ` ${CONDITION_NAMES[code]}` : ""}`];
  const constraint = fieldOf(error, "constraint_name");
  if (constraint !== undefined) parts.push(`constraint "${constraint}"`);
  const column = fieldOf(error, "column_name");
  if (column !== undefined) parts.push(`column "${column}"`);
  const dataType = fieldOf(error, "data_type_name");
  if (dataType !== undefined) parts.push(`type "${dataType}"`);
  const where = fieldOf(error, "where");
  const fn = where === undefined ? undefined : PLPGSQL_FUNCTION.exec(where)?.[1];
  if (fn !== undefined) parts.push(`raised in function ${fn}`);
  return parts.join(", ");
}

/** A string field of a database error (`constraint_name`, `column_name`, `where`, ...), cut to an identifier's size. */
function fieldOf(error: unknown, name: string): string | undefined {
  if (typeof error !== "object" || error === null || !(name in error)) return undefined;
  const value = (error as Record<string, unknown>)[name];
  return typeof value === "string" && value !== "" ? value.slice(0, name === "where" ? 2000 : 128) : undefined;
}
