/**
 * Stable codes for a rejected NDJSON line. The handler answers them in `rejected[].code`; handler/README.md lists them.
 */
export const LINE_ERROR_CODES = [
  "INVALID_UTF8",
  "INVALID_JSON",
  "TOO_DEEP",
  "LINE_TOO_LONG",
  "NOT_AN_OBJECT",
  "UNSUPPORTED_VERSION",
  "UNKNOWN_KIND",
  "MISSING_FIELD",
  "INVALID_FIELD",
  "MISSING_TIMESTAMP",
  "INVALID_TIMESTAMP",
  "NUL_IN_STRING",
  "INVALID_UNICODE",
  "NUMBER_OUT_OF_RANGE",
  "CLUSTER_MISMATCH",
  "ROW_REFUSED",
] as const;

export type LineErrorCode = typeof LINE_ERROR_CODES[number];

/** Why one line of a batch was refused. `line` counts from 1, as an editor does. */
export interface LineError {
  line: number;
  code: LineErrorCode;
  message: string;
}
