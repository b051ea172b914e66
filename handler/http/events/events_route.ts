/**
 * `POST /v1/events`: authenticate, read the batch headers, stream the body's lines into the store while it arrives,
 * and answer the counts. The store pulls the rows as the body decodes, so parsing overlaps the database's work; a body
 * that fails part-way throws out of `writeBatch` after the transaction was rolled back.
 */
import type { Logger } from "../../../shared/telemetry/log.ts";
import type { IngestResponse } from "../../../shared/contract/protocol.ts";
import type { LineError } from "../../../shared/contract/line_error.ts";
import type { HandlerConfig } from "../../config.ts";
import { FencedError, type Store, StoreUnavailableError } from "../../store/store.ts";
import { addRefusedRows, type BatchStream, readBatchStream } from "../../ingest/batch_reader.ts";
import { HttpError } from "../http_error.ts";
import type { TokenAuthenticator } from "../token_auth.ts";
import { readBatchHeaders } from "./batch_headers.ts";
import { toDecodedBodyStream } from "./body_stream.ts";
import { readBodyEncoding } from "./content_headers.ts";
import type { MemoryReservation } from "./memory_budget.ts";
import type { BatchOutcome } from "../app_observer.ts";

export interface EventsRouteDeps {
  config: HandlerConfig;
  store: Store;
  logger: Logger;
  auth: TokenAuthenticator;
  now: () => Date;
  clockMs: () => number;
  /** Told about every batch write (not about a body refused before it was written). */
  onBatch: (outcome: BatchOutcome) => void;
}

/** One `POST /v1/events` as read from its request: who sends, what to check, and the streaming batch. */
interface IngestRequest {
  cluster: string;
  fence: Parameters<Store["writeBatch"]>[0]["fence"];
  resumeVersion: string | null;
  batch: BatchStream;
}

/** Builds the route; it takes the request and the memory reservation its body is charged to. */
export function createEventsRoute(
  deps: EventsRouteDeps,
): (request: Request, reservation: MemoryReservation) => Promise<Response> {
  return async (request, reservation) => {
    const startedMs = deps.now().getTime();
    const ingest = await readIngestRequest(request, reservation, deps);
    const result = await writeIngestBatch(ingest, deps);
    const answer: IngestResponse = {
      accepted: result.inserted + result.gapsInserted,
      duplicates: result.duplicates,
      rejected: ingest.batch.rejected,
    };
    logBatch(deps.logger, { cluster: ingest.cluster, answer, elapsedMs: deps.now().getTime() - startedMs });
    return Response.json(answer);
  };
}

/** Authenticates and reads the headers (refusing before any body byte is read), then opens the body's line stream. */
async function readIngestRequest(
  request: Request,
  reservation: MemoryReservation,
  deps: EventsRouteDeps,
): Promise<IngestRequest> {
  const { config, store } = deps;
  const cluster = await deps.auth.authenticate(request);
  const encoding = readBodyEncoding(request.headers);
  const { fence, resumeVersion } = readBatchHeaders(request.headers);
  const length = request.headers.get("content-length");
  if (length !== null && Number(length) > config.limits.bodyBytesMax) {
    throw new HttpError(
      "BODY_TOO_LARGE",
      `Cannot accept the body: Content-Length ${Number(length)} is over ${config.limits.bodyBytesMax} bytes ` +
        "(BODY_BYTES_MAX)",
    );
  }
  const body = toDecodedBodyStream(request.body, { encoding, ...config.limits, memory: reservation });
  const batch = readBatchStream(body, { cluster, ...config.limits, requiredColumns: store.requiredColumns() });
  return { cluster, fence, resumeVersion, batch };
}

/** Writes the batch in one transaction and reports the outcome, refused rows added to the batch's rejected lines. */
async function writeIngestBatch(ingest: IngestRequest, deps: EventsRouteDeps) {
  const { cluster, batch } = ingest;
  const outcome: BatchOutcome = { cluster, rows: batch.rows, gaps: batch.gaps, rejected: batch.rejected, durationS: 0 };
  const writeStartedMs = deps.clockMs();
  let result;
  let isBodyRefused = false;
  try {
    result = await deps.store.writeBatch({
      cluster,
      rows: batch.chunks,
      gaps: batch.gaps,
      resumeVersion: ingest.resumeVersion,
      fence: ingest.fence,
      rowRefusalsMax: deps.config.limits.rowRefusalsMax,
    });
    addRefusedRows(batch, result.refused ?? []);
    return result;
  } catch (error) {
    // A refused body (framing, limits) is the client's error, answered like before any write began.
    isBodyRefused = error instanceof HttpError;
    outcome.failure = error instanceof StoreUnavailableError
      ? "unavailable"
      : error instanceof FencedError
      ? "fenced"
      : "error";
    throw error;
  } finally {
    outcome.durationS = (deps.clockMs() - writeStartedMs) / 1000;
    if (result) Object.assign(outcome, { result, committedAt: deps.now() });
    if (!isBodyRefused) deps.onBatch(outcome);
  }
}

/** A batch with rejected lines is a warning with counts per code; a clean one a debug line. */
function logBatch(logger: Logger, batch: { cluster: string; answer: IngestResponse; elapsedMs: number }): void {
  const { answer } = batch;
  const fields = {
    cluster: batch.cluster,
    accepted: answer.accepted,
    duplicates: answer.duplicates,
    rejected: answer.rejected.length,
    elapsedMs: batch.elapsedMs,
  };
  if (answer.rejected.length > 0) {
    logger.warn("batch stored with rejected lines", { ...fields, codes: countCodes(answer.rejected) });
  } else logger.debug("batch stored", fields);
}

function countCodes(rejected: LineError[]): string {
  const counts = new Map<string, number>();
  for (const error of rejected) counts.set(error.code, (counts.get(error.code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${code}:${n}`).join(",");
}
