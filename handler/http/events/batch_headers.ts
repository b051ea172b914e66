/**
 * The fence and resume-point headers of `POST /v1/events` (shared/protocol.ts names them).
 */
import {
  type Fence,
  FENCE_HOLDER_HEADER,
  FENCE_TRANSITIONS_HEADER,
  RESUME_VERSION_HEADER,
} from "../../../shared/contract/protocol.ts";
import { HttpError } from "../http_error.ts";

/** What the batch headers say: the sender's fence and the resume point to store with the batch. */
export interface BatchHeaders {
  fence: Fence | null;
  resumeVersion: string | null;
}

/** Longest fence holder or resume version accepted, in characters. */
const HEADER_VALUE_CHARS_MAX = 256;

const PRINTABLE = /^[\x21-\x7e]+$/;
const PRINTABLE_WITH_SPACES = /^[\x20-\x7e]+$/;

/**
 * Reads the fence (holder and transitions, both or neither) and the resume version. Throws HttpError
 * INVALID_HEADER naming the header when one is empty, too long, not printable ASCII, or the transitions are not
 * a non-negative whole number.
 */
export function readBatchHeaders(headers: Headers): BatchHeaders {
  const holder = headers.get(FENCE_HOLDER_HEADER);
  const transitions = headers.get(FENCE_TRANSITIONS_HEADER);
  const resumeVersion = headers.get(RESUME_VERSION_HEADER);
  if ((holder === null) !== (transitions === null)) {
    throw new HttpError(
      "INVALID_HEADER",
      `Cannot read the fence: send ${FENCE_HOLDER_HEADER} and ${FENCE_TRANSITIONS_HEADER} together, or neither`,
    );
  }
  let fence: Fence | null = null;
  if (holder !== null && transitions !== null) {
    checkValue(FENCE_HOLDER_HEADER, holder, PRINTABLE_WITH_SPACES);
    if (!/^\d{1,15}$/.test(transitions)) {
      throw new HttpError(
        "INVALID_HEADER",
        `Cannot read ${FENCE_TRANSITIONS_HEADER}: "${transitions.slice(0, 40)}" is not a non-negative whole number`,
      );
    }
    fence = { holder, transitions: Number(transitions) };
  }
  if (resumeVersion !== null) checkValue(RESUME_VERSION_HEADER, resumeVersion, PRINTABLE);
  return { fence, resumeVersion };
}

function checkValue(name: string, value: string, pattern: RegExp): void {
  if (value === "" || value.length > HEADER_VALUE_CHARS_MAX || !pattern.test(value)) {
    throw new HttpError(
      "INVALID_HEADER",
      `Cannot read ${name}: it must be 1-${HEADER_VALUE_CHARS_MAX} printable ASCII characters`,
    );
  }
}
