/**
 * Reading one request's NDJSON lines into rows to store: every line is framed, parsed, checked against the
 * sender's cluster, minified and mapped, or rejected with a line code. Rows come out in chunks while the body is
 * still arriving, so the store can write one chunk while the next is parsed.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import { toEventRow } from "../../shared/contract/event_row.ts";
import type { LineError } from "../../shared/contract/line_error.ts";
import { type NdjsonLine, NdjsonLineSplitter } from "../../shared/contract/ndjson.ts";
import { parseRecordLine } from "../../shared/contract/record_parser.ts";
import type { GapRecord } from "../../shared/contract/records.ts";
import { HttpError } from "../http/http_error.ts";
import { toMinifiedEvent } from "./minify.ts";

/** The valid content of one request and the lines refused. */
export interface ReadBatch {
  rows: EventRow[];
  gaps: GapRecord[];
  rejected: LineError[];
}

/**
 * A request being read. `chunks` yields the event rows as they are parsed; `rows`, `gaps` and `rejected` fill up as
 * `chunks` is consumed and are complete once it ends. `chunks` can be iterated once.
 */
export interface BatchStream extends ReadBatch {
  chunks: AsyncIterable<EventRow[]>;
}

/** Where the lines come from and the bounds on them. */
export interface ReadBatchOptions {
  /** The cluster of the sender's token; lines of any other cluster are rejected with CLUSTER_MISMATCH. */
  cluster: string;
  lineBytesMax: number;
  recordsMax: number;
  jsonDepthMax: number;
  /**
   * A chunk is handed out once its rows' `raw` text reaches this many UTF-16 code units (checked after each body
   * chunk, so it may be larger); default 128 Ki.
   */
  chunkRawCharsMin?: number;
}

const CHUNK_RAW_CHARS_MIN = 128 * 1024;

/**
 * Starts reading the decoded body lazily: nothing is read until `chunks` is iterated. Iterating throws HttpError
 * TOO_MANY_RECORDS at record `recordsMax + 1` (records are non-blank lines, valid or not), and whatever the body
 * stream throws; the caller must then store nothing of the batch. Stopping the iteration early cancels the body.
 */
export function readBatchStream(body: ReadableStream<Uint8Array>, options: ReadBatchOptions): BatchStream {
  const batch: BatchStream = { rows: [], gaps: [], rejected: [], chunks: readChunks() };
  const chunkRawCharsMin = options.chunkRawCharsMin ?? CHUNK_RAW_CHARS_MIN;

  async function* readChunks(): AsyncGenerator<EventRow[]> {
    let records = 0;
    let chunk: EventRow[] = [];
    let chunkChars = 0;
    const parseOptions = { jsonDepthMax: options.jsonDepthMax };
    const splitter = new NdjsonLineSplitter({ lineBytesMax: options.lineBytesMax });

    /** Reads the lines of one body chunk (or the last line); true when the row chunk is full. */
    const readLines = (lines: NdjsonLine[]): boolean => {
      for (const item of lines) {
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
        const parsed = parseRecordLine(item.text, item.line, parseOptions);
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
          const row = toEventRow(parsed.record, parsed.view, raw);
          batch.rows.push(row);
          chunk.push(row);
          chunkChars += raw.length;
        }
      }
      return chunkChars >= chunkRawCharsMin;
    };

    // The body is iterated directly (not piped through a line stream): one await per body chunk, not per line.
    for await (const bytes of body) {
      if (readLines(splitter.push(bytes))) {
        yield chunk;
        chunk = [];
        chunkChars = 0;
      }
    }
    readLines(splitter.flush());
    if (chunk.length > 0) yield chunk;
  }

  return batch;
}
