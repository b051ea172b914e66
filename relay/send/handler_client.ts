/**
 * The relay's side of the handler contract: reading the checkpoint and posting gzip NDJSON batches, with retries.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import {
  type CheckpointResponse,
  CHECKPOINTS_PATH_PREFIX,
  EVENTS_PATH,
  type Fence,
  FENCE_HOLDER_HEADER,
  FENCE_TRANSITIONS_HEADER,
  type IngestResponse,
  NDJSON_CONTENT_TYPE,
  RESUME_VERSION_HEADER,
} from "../../shared/contract/protocol.ts";
import { type Delay, delay as realDelay, toBackoffMs } from "./backoff.ts";
import type { Batch } from "../pipeline/batcher.ts";
import { RELAY_DEFAULTS } from "../config.ts";
import type { RelayMetrics } from "../metrics.ts";
import type { TokenReader } from "./token_reader.ts";

/** Statuses whose answers have no body (a Response with one of them cannot be given a body). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export interface HandlerClientOptions {
  /** Base URL of the handler, without a trailing slash. */
  url: string;
  cluster: string;
  /** The bearer token; called before every request so a rotated token file is picked up, forced after a 401/403. */
  readToken: TokenReader;
  retryBackoffBaseMs?: number;
  retryBackoffMaxMs: number;
  /**
   * Longest time one request may take, from sending to the last byte of the answer; then it is abandoned and retried
   * like a network failure (reason `TIMEOUT`). Catches a handler path that drops packets silently, which TCP alone
   * notices only after many minutes. Default RELAY_DEFAULTS.handlerRequestTimeoutMs (HANDLER_REQUEST_TIMEOUT_MS).
   */
  requestTimeoutMs?: number;
  metrics: Pick<RelayMetrics, "sendRetries" | "rejectedLines" | "sendDurationS" | "batchRecords">;
  logger: Logger;
  fetch?: typeof fetch;
  delay?: Delay;
  random?: () => number;
  now?: () => number;
}

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

/** A failed attempt that is worth another (5xx, 429, network, 401 and 403, an unreadable token file). */
class RetryableError extends Error {
  override name = "RetryableError";
  constructor(
    message: string,
    readonly reason: string,
    readonly options: { code?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/**
 * Client for `POST /v1/events` and `GET /v1/checkpoints/<cluster>`.
 *
 * A batch is never given up for a reason that is not its own: 5xx, 429, network failures and 401/403 (a wrong or
 * rotated token: the token is read again before each retry) are retried with jittered exponential backoff until they
 * succeed or the signal aborts; a batch refused with 413 is split in halves, each sent (and split) in turn, so only a
 * single record that is too large on its own is dropped.
 */
export class HandlerClient {
  readonly #options: HandlerClientOptions;
  readonly #fetch: typeof fetch;
  readonly #delay: Delay;
  readonly #now: () => number;
  /** The last answer was 401/403: read the token file again before the next request. */
  #authRefusal: string | undefined;

  constructor(options: HandlerClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#delay = options.delay ?? realDelay;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Set while the handler refuses the token: "401 INVALID_TOKEN", "403 FORBIDDEN_CLUSTER", ... Cleared by the next
   * request it answers otherwise. The relay is not ready meanwhile.
   */
  get authRefusal(): string | undefined {
    return this.#authRefusal;
  }

  /**
   * The stored resume point, retried (5xx, 429, network, 401, 403) until it answers or `signal` aborts. Rejects on
   * abort, or with Error "Cannot read the checkpoint: ..." on any other 4xx.
   */
  readCheckpoint(signal: AbortSignal): Promise<CheckpointResponse> {
    const url = `${this.#options.url}${CHECKPOINTS_PATH_PREFIX}${encodeURIComponent(this.#options.cluster)}`;
    return this.#withRetries("read checkpoint", signal, async () => {
      const response = await this.#request(url, { headers: await this.#headers() }, signal);
      if (response.ok) return await response.json() as CheckpointResponse;
      const problem = await readProblemCode(response);
      throw new Error(`Cannot read the checkpoint: ${response.status} ${problem}`);
    });
  }

  /**
   * Sends one batch (gzip, with the fence and resume point), retrying 5xx, 429, 401, 403 and network failures with
   * jittered exponential backoff until it is answered or `signal` aborts. `batch` is its lines, or a GzipBatch (the body
   * is decompressed again only to split it). 413 splits the batch in halves (the first without the resume point, which belongs after the whole batch),
   * recursively; a single record refused with 413 is dropped and reported among `rejected` with its code. 409 FENCED
   * comes back as "fenced"; any other 4xx as "refused", with every line counted as rejected under the problem's code.
   */
  async sendBatch(
    batch: Batch | GzipBatch,
    options: { fence: Fence; signal: AbortSignal },
  ): Promise<SendOutcome> {
    const started = this.#now();
    const records = "lines" in batch ? batch.lines.length : batch.records;
    const outcome = await this.#sendSplitting("lines" in batch ? { lines: batch.lines } : batch, {
      resumeVersion: batch.resumeVersion,
      fence: options.fence,
      signal: options.signal,
    });
    this.#options.metrics.sendDurationS.record((this.#now() - started) / 1000);
    this.#options.metrics.batchRecords.record(records);
    if (outcome.status === "stored") {
      for (const rejected of outcome.response.rejected) {
        this.#options.metrics.rejectedLines.add(1, { code: rejected.code });
      }
      if (outcome.response.rejected.length > 0) {
        this.#options.logger.warn("handler rejected lines", {
          rejected: outcome.response.rejected.length,
          codes: [...new Set(outcome.response.rejected.map((r) => r.code))].join(","),
        });
      }
    } else if (outcome.status === "refused") {
      this.#options.metrics.rejectedLines.add(records, { code: outcome.code });
      this.#options.logger.error("handler refused a batch; its lines are dropped", {
        status: outcome.httpStatus,
        code: outcome.code,
        records,
      });
    } else {
      this.#options.metrics.rejectedLines.add(records, { code: "FENCED" });
      this.#options.logger.warn("handler fenced this relay: a newer leader has written", {
        records,
        ...options.fence,
      });
    }
    return outcome;
  }

  /**
   * Posts one part (its lines, or its gzipped body and record count); on 413 sends each half in turn, decompressing
   * the body to split it. Parts refused for their own reasons become `rejected` lines.
   */
  async #sendSplitting(
    part: { lines: string[] } | { body: Uint8Array<ArrayBuffer>; records: number },
    options: { resumeVersion: string | null; fence: Fence; signal: AbortSignal },
  ): Promise<SendOutcome> {
    const body = "body" in part ? part.body : await gzipLines(part.lines);
    const outcome = await this.#post(body, options);
    if (outcome.status !== "refused" || outcome.httpStatus !== 413) return outcome;
    const lines = "lines" in part ? part.lines : await gunzipLines(part.body);
    if (lines.length <= 1) {
      this.#options.logger.error("handler refused a single record as too large; it is dropped", {
        status: outcome.httpStatus,
        code: outcome.code,
      });
      const message =
        `Cannot store the record: the handler refused it alone with ${outcome.httpStatus} ${outcome.code}`;
      return {
        status: "stored",
        response: { accepted: 0, duplicates: 0, rejected: lines.map(() => ({ line: 1, code: outcome.code, message })) },
      };
    }
    const half = Math.ceil(lines.length / 2);
    this.#options.logger.warn("handler refused a batch as too large; sending it in halves", {
      status: outcome.httpStatus,
      code: outcome.code,
      records: lines.length,
    });
    const parts = [lines.slice(0, half), lines.slice(half)];
    const response: StoredResponse = { accepted: 0, duplicates: 0, rejected: [] };
    let offset = 0;
    for (const [index, part] of parts.entries()) {
      const isLast = index === parts.length - 1;
      const answer = await this.#sendSplitting({ lines: part }, {
        resumeVersion: isLast ? options.resumeVersion : null,
        fence: options.fence,
        signal: options.signal,
      });
      if (answer.status === "fenced") return answer;
      if (answer.status === "refused") {
        const message = `Cannot store the record: the handler refused its part of the batch with ${answer.httpStatus}`;
        for (let line = 1; line <= part.length; line++) {
          response.rejected.push({ line: offset + line, code: answer.code, message });
        }
      } else {
        response.accepted += answer.response.accepted;
        response.duplicates += answer.response.duplicates;
        for (const rejected of answer.response.rejected) {
          response.rejected.push({ ...rejected, line: offset + rejected.line });
        }
      }
      offset += part.length;
    }
    return { status: "stored", response };
  }

  /** One request with `body` (gzip NDJSON), retried until it gets an answer that is not worth retrying. */
  async #post(
    body: Uint8Array<ArrayBuffer>,
    options: { resumeVersion: string | null; fence: Fence; signal: AbortSignal },
  ): Promise<SendOutcome> {
    const { fence, signal, resumeVersion } = options;
    const url = `${this.#options.url}${EVENTS_PATH}`;
    return await this.#withRetries("send batch", signal, async () => {
      const headers = await this.#headers();
      headers["content-type"] = NDJSON_CONTENT_TYPE;
      headers["content-encoding"] = "gzip";
      headers[FENCE_HOLDER_HEADER] = fence.holder;
      headers[FENCE_TRANSITIONS_HEADER] = String(fence.transitions);
      if (resumeVersion !== null) headers[RESUME_VERSION_HEADER] = resumeVersion;
      const response = await this.#request(url, { method: "POST", headers, body }, signal);
      if (response.ok) return { status: "stored", response: await response.json() as IngestResponse } as const;
      const code = await readProblemCode(response);
      if (response.status === 409) return { status: "fenced" } as const;
      return { status: "refused", httpStatus: response.status, code } as const;
    });
  }

  async #headers(): Promise<Record<string, string>> {
    let token: string;
    try {
      token = await this.#options.readToken({ isForced: this.#authRefusal !== undefined });
    } catch (error) {
      // A token file being replaced may be missing or empty for a moment; the batch waits for it.
      throw new RetryableError(`Cannot read the handler token: ${describeError(error)}`, "TOKEN_UNREADABLE", {
        cause: error,
      });
    }
    return { authorization: `Bearer ${token}` };
  }

  async #request(url: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    const { requestTimeoutMs = RELAY_DEFAULTS.handlerRequestTimeoutMs } = this.#options;
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    let response: Response;
    try {
      const answer = await this.#fetch(url, { ...init, signal: AbortSignal.any([signal, timeout]) });
      // The answer is small: read all of it under the same bound, so a stall after the headers is caught too.
      const body = NULL_BODY_STATUSES.has(answer.status) ? null : await answer.arrayBuffer();
      response = new Response(body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
    } catch (error) {
      if (signal.aborted) throw error;
      if (timeout.aborted) {
        throw new RetryableError(`Cannot reach the handler: no answer within ${requestTimeoutMs} ms`, "TIMEOUT", {
          cause: error,
        });
      }
      throw new RetryableError(`Cannot reach the handler: ${describeError(error)}`, "NETWORK", { cause: error });
    }
    if (response.status === 401 || response.status === 403) {
      const code = await readProblemCode(response);
      this.#authRefusal = `${response.status} ${code}`;
      throw new RetryableError(
        `Cannot authenticate to the handler: ${response.status} ${code}`,
        String(response.status),
        {
          code,
        },
      );
    }
    this.#authRefusal = undefined;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      const code = await readProblemCode(response);
      const retryAfterS = Number(response.headers.get("retry-after"));
      throw new RetryableError(`Cannot deliver to the handler: ${response.status} ${code}`, String(response.status), {
        code,
        retryAfterMs: Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : undefined,
      });
    }
    return response;
  }

  async #withRetries<T>(what: string, signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    const { retryBackoffMaxMs, retryBackoffBaseMs = 100, random } = this.#options;
    for (let failures = 0;; failures++) {
      signal.throwIfAborted();
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RetryableError) || signal.aborted) throw error;
        this.#options.metrics.sendRetries.add(1, { reason: error.reason });
        const backoffMs = toBackoffMs(failures, { baseMs: retryBackoffBaseMs, maxMs: retryBackoffMaxMs, random });
        const waitMs = Math.min(retryBackoffMaxMs, Math.max(backoffMs, error.options.retryAfterMs ?? 0));
        this.#options.logger.warn(`cannot ${what}, retrying`, {
          reason: error.reason,
          ...(error.options.code === undefined ? {} : { code: error.options.code }),
          failures: failures + 1,
          waitMs,
        });
        await this.#delay(waitMs, signal);
      }
    }
  }
}

async function readProblemCode(response: Response): Promise<string> {
  // An unreadable body (the connection dropped mid-answer) still has a status, which names the failure below.
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { code?: unknown };
    if (typeof body.code === "string") return body.code;
  } catch {
    // Not a problem body (a proxy's page, say): the status alone names the failure.
  }
  return `HTTP_${response.status}`;
}

/** A batch already gzipped: what the relay keeps while a batch waits to be sent, instead of its lines. */
export interface GzipBatch {
  /** gzip NDJSON, as `gzipLines` makes it. */
  body: Uint8Array<ArrayBuffer>;
  /** Records (lines) in the body. */
  records: number;
  /** The watch position safe to resume from once this batch (and every earlier one) is stored; null if none. */
  resumeVersion: string | null;
}

/** gzip level of request bodies: nearly the size of the default level 6 at about half its CPU time. */
const GZIP_LEVEL = 3;
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/** Gzips the lines into one buffer, so a retry re-sends the same bytes without compressing again. */
export async function gzipLines(lines: string[]): Promise<Uint8Array<ArrayBuffer>> {
  const compressed = await gzip(new TextEncoder().encode(lines.join("")), { level: GZIP_LEVEL });
  return new Uint8Array(compressed.buffer as ArrayBuffer, compressed.byteOffset, compressed.byteLength);
}

/** The lines of a body made by `gzipLines`, each ending in `\n` (only needed to split a batch the handler refused). */
export async function gunzipLines(body: Uint8Array<ArrayBuffer>): Promise<string[]> {
  const text = new TextDecoder().decode(await gunzip(body));
  return text.split("\n").slice(0, -1).map((line) => line + "\n");
}
