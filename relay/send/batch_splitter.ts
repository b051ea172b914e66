/**
 * What the relay does when the handler refuses a batch as too large (413): it sends the batch again in halves, each
 * split in turn, so that only a record too large on its own is dropped, and reports the parts' answers as one.
 */
import type { Logger } from "../../shared/telemetry/log.ts";
import { gunzipLines, gzipLines } from "./gzip_ndjson.ts";
import type { SendOutcome, StoredResponse } from "./send_outcome.ts";

/** A batch or a part of one: its lines, or its gzipped body and record count (decompressed only to split it). */
export type BatchPart = { lines: string[] } | { body: Uint8Array<ArrayBuffer>; records: number };

export interface SplitOptions {
  /** The batch's resume point: sent with its last part only, as it belongs after the whole batch. */
  resumeVersion: string | null;
  /** Sends one body (gzip NDJSON) with `resumeVersion` and returns the handler's answer. */
  post: (body: Uint8Array<ArrayBuffer>, resumeVersion: string | null) => Promise<SendOutcome>;
  logger: Logger;
}

/**
 * Posts `part`; when it is refused with 413, sends each half in turn (recursively) and sums their answers. A single
 * record refused with 413 becomes a rejected line under the problem's code; a half refused for its own reason
 * rejects its lines; a fenced half ends the batch as fenced (the halves after it are not sent).
 */
export async function sendSplitting(part: BatchPart, options: SplitOptions): Promise<SendOutcome> {
  const body = "body" in part ? part.body : await gzipLines(part.lines);
  const outcome = await options.post(body, options.resumeVersion);
  if (outcome.status !== "refused" || outcome.httpStatus !== 413) return outcome;
  const lines = "lines" in part ? part.lines : await gunzipLines(part.body);
  if (lines.length <= 1) {
    options.logger.error(`handler refused a single record ${toRefusalReason(outcome.code)}; it is dropped`, {
      status: outcome.httpStatus,
      code: outcome.code,
    });
    return toTooLargeRecord(lines, outcome);
  }
  options.logger.warn(`handler refused a batch ${toRefusalReason(outcome.code)}; sending it in halves`, {
    status: outcome.httpStatus,
    code: outcome.code,
    records: lines.length,
  });
  return await sendHalves(lines, options);
}

/**
 * Why a 413 refused a batch, in words for the log: most 413 codes mean the batch is too large, but
 * TOO_MANY_ROWS_REFUSED means the database refused too many of its rows, which halves isolate just the same.
 */
function toRefusalReason(code: string): string {
  return code === "TOO_MANY_ROWS_REFUSED" ? "because the database refused too many of its rows" : "as too large";
}

/** The outcome of a single record refused alone with 413: stored, with that record rejected. */
function toTooLargeRecord(lines: string[], outcome: { httpStatus: number; code: string }): SendOutcome {
  const message = `Cannot store the record: the handler refused it alone with ${outcome.httpStatus} ${outcome.code}`;
  return {
    status: "stored",
    response: { accepted: 0, duplicates: 0, rejected: lines.map(() => ({ line: 1, code: outcome.code, message })) },
  };
}

/** Sends the first half (without the resume point), then the second (with it); stops at a fenced half. */
async function sendHalves(lines: string[], options: SplitOptions): Promise<SendOutcome> {
  const half = Math.ceil(lines.length / 2);
  const parts = [lines.slice(0, half), lines.slice(half)];
  const response: StoredResponse = { accepted: 0, duplicates: 0, rejected: [] };
  let offset = 0;
  for (const [index, part] of parts.entries()) {
    const isLast = index === parts.length - 1;
    const answer = await sendSplitting({ lines: part }, {
      ...options,
      resumeVersion: isLast ? options.resumeVersion : null,
    });
    if (answer.status === "fenced") return answer;
    addPartAnswer(response, answer, { offset, records: part.length });
    offset += part.length;
  }
  return { status: "stored", response };
}

/** Adds a part's answer to the batch's, its line numbers moved by `offset`; a refused part rejects all its lines. */
export function addPartAnswer(
  response: StoredResponse,
  answer: Exclude<SendOutcome, { status: "fenced" }>,
  part: { offset: number; records: number },
): void {
  if (answer.status === "refused") {
    const message = `Cannot store the record: the handler refused its part of the batch with ${answer.httpStatus}`;
    for (let line = 1; line <= part.records; line++) {
      response.rejected.push({ line: part.offset + line, code: answer.code, message });
    }
    return;
  }
  response.accepted += answer.response.accepted;
  response.duplicates += answer.response.duplicates;
  for (const rejected of answer.response.rejected) {
    response.rejected.push({ ...rejected, line: part.offset + rejected.line });
  }
}
