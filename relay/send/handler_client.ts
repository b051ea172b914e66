/**
 * The relay's side of the handler contract: reading the checkpoint and posting gzip NDJSON batches. Which failures
 * are retried is `retry_policy.ts`; a batch refused as too large is split by `batch_splitter.ts`.
 */
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
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import type { Batch } from "../pipeline/batcher.ts";
import { RELAY_DEFAULTS } from "../config.ts";
import type { RelayMetrics } from "../metrics.ts";
import { sendSplitting } from "./batch_splitter.ts";
import type { GzipBatch } from "./gzip_ndjson.ts";
import {
  isAuthRefusalStatus,
  isRetryableStatus,
  RetryableError,
  retryUntilAnswered,
  toRetryableError,
} from "./retry_policy.ts";
import type { SendOutcome } from "./send_outcome.ts";
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
 * Client for `POST /v1/events` and `GET /v1/checkpoints/<cluster>`.
 *
 * A batch is never given up for a reason that is not its own: 5xx, 429, 408, network failures and 401/403 (a wrong
 * or rotated token: the token is read again before each retry) are retried with jittered exponential backoff until
 * they succeed or the signal aborts; a batch refused with 413 is split in halves, each sent (and split) in turn, so
 * only a single record that is too large on its own is dropped.
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
   * jittered exponential backoff until it is answered or `signal` aborts. `batch` is its lines, or a GzipBatch (the
   * body is decompressed again only to split it). 413 splits the batch in halves (the first without the resume
   * point, which belongs after the whole batch), recursively; a single record refused with 413 is dropped and reported
   * among `rejected` with its code. 409 FENCED comes back as "fenced"; any other 4xx as "refused", with every line
   * counted as rejected under the problem's code.
   */
  async sendBatch(batch: Batch | GzipBatch, options: { fence: Fence; signal: AbortSignal }): Promise<SendOutcome> {
    const started = this.#now();
    const records = "lines" in batch ? batch.lines.length : batch.records;
    const outcome = await sendSplitting("lines" in batch ? { lines: batch.lines } : batch, {
      resumeVersion: batch.resumeVersion,
      post: (body, resumeVersion) => this.#post(body, { resumeVersion, ...options }),
      logger: this.#options.logger,
    });
    this.#options.metrics.sendDurationS.record((this.#now() - started) / 1000);
    this.#options.metrics.batchRecords.record(records);
    this.#recordOutcome(outcome, { records, fence: options.fence });
    return outcome;
  }

  /** Counts the records the handler rejected or refused, by code, and logs why. */
  #recordOutcome(outcome: SendOutcome, batch: { records: number; fence: Fence }): void {
    const { metrics, logger } = this.#options;
    const { records } = batch;
    if (outcome.status === "stored") {
      const { rejected } = outcome.response;
      for (const line of rejected) metrics.rejectedLines.add(1, { code: line.code });
      if (rejected.length > 0) {
        logger.warn("handler rejected lines", {
          rejected: rejected.length,
          codes: [...new Set(rejected.map((r) => r.code))].join(","),
        });
      }
    } else if (outcome.status === "refused") {
      metrics.rejectedLines.add(records, { code: outcome.code });
      logger.error("handler refused a batch; its lines are dropped", {
        status: outcome.httpStatus,
        code: outcome.code,
        records,
      });
    } else {
      metrics.rejectedLines.add(records, { code: "FENCED" });
      logger.warn("handler fenced this relay: a newer leader has written", { records, ...batch.fence });
    }
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

  /** One exchange; throws RetryableError for a network failure and for the answers worth retrying. */
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
    if (!isRetryableStatus(response.status)) {
      this.#authRefusal = undefined;
      return response;
    }
    const code = await readProblemCode(response);
    this.#authRefusal = isAuthRefusalStatus(response.status) ? `${response.status} ${code}` : undefined;
    throw toRetryableError(response.status, { code, retryAfter: response.headers.get("retry-after") });
  }

  #withRetries<T>(what: string, signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    const { retryBackoffMaxMs, retryBackoffBaseMs = 100, random, logger, metrics } = this.#options;
    return retryUntilAnswered(attempt, {
      what,
      signal,
      backoffBaseMs: retryBackoffBaseMs,
      backoffMaxMs: retryBackoffMaxMs,
      random,
      delay: this.#delay,
      logger,
      onRetry: (reason) => metrics.sendRetries.add(1, { reason }),
    });
  }
}

/** The problem body's `code`, or `HTTP_<status>` when the body is not a problem (a proxy's page, say). */
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
