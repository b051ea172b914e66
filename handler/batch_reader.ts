/**
 * Reading one request's NDJSON lines into rows to store: every line is framed, parsed, checked against the
 * sender's cluster, minified and mapped, or rejected with a line code.
 */
import type { EventRow } from "../shared/event_row.ts";
import { toEventRow } from "../shared/event_row.ts";
import type { LineError } from "../shared/line_error.ts";
import { NdjsonLineStream } from "../shared/ndjson.ts";
import { parseRecordLine } from "../shared/record_parser.ts";
import type { GapRecord } from "../shared/records.ts";
import { HttpError } from "./http_error.ts";
import { toMinifiedEvent } from "./minify.ts";

/** The valid content of one request and the lines refused. */
export interface ReadBatch {
  rows: EventRow[];
  gaps: GapRecord[];
  rejected: LineError[];
}

/** Where the lines come from and the bounds on them. */
export interface ReadBatchOptions {
  /** The cluster of the sender's token; lines of any other cluster are rejected with CLUSTER_MISMATCH. */
  cluster: string;
  lineBytesMax: number;
  recordsMax: number;
  jsonDepthMax: number;
}

/**
 * Reads the whole decoded body before returning, so a body that fails part-way (corrupt gzip, a limit) yields
 * nothing to store: the error propagates and the request is refused whole. Throws HttpError TOO_MANY_RECORDS
 * at record `recordsMax + 1` (records are non-blank lines, valid or not), and whatever the body stream throws.
 */
export async function readBatch(body: ReadableStream<Uint8Array>, options: ReadBatchOptions): Promise<ReadBatch> {
  const batch: ReadBatch = { rows: [], gaps: [], rejected: [] };
  let records = 0;
  for await (const item of body.pipeThrough(new NdjsonLineStream({ lineBytesMax: options.lineBytesMax }))) {
    records++;
    if (records > options.recordsMax) {
      throw new HttpError(
        "TOO_MANY_RECORDS",
        `Cannot accept the body: more than ${options.recordsMax} records (RECORDS_MAX); line ${item.line} is one too many`,
      );
    }
    if ("error" in item) {
      batch.rejected.push(item.error);
      continue;
    }
    const parsed = parseRecordLine(item.text, item.line, { jsonDepthMax: options.jsonDepthMax });
    if (!parsed.ok) {
      batch.rejected.push(parsed.error);
    } else if (parsed.record.cluster !== options.cluster) {
      batch.rejected.push({
        line: item.line,
        code: "CLUSTER_MISMATCH",
        message: `Cannot accept line ${item.line}: it is for cluster "${parsed.record.cluster}", ` +
          `the token writes for "${options.cluster}"`,
      });
    } else if (parsed.view === undefined) {
      batch.gaps.push(parsed.record);
    } else {
      const raw = JSON.stringify(toMinifiedEvent(parsed.record, parsed.view));
      batch.rows.push(toEventRow(parsed.record, parsed.view, raw));
    }
  }
  return batch;
}
