/**
 * The relay's side of the handler contract: reading the checkpoint and posting gzip NDJSON batches, with retries.
 */
import { describeError, type Logger } from "../shared/log.ts";
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
} from "../shared/protocol.ts";
import { type Delay, delay as realDelay, toBackoffMs } from "./backoff.ts";
import type { Batch } from "./batcher.ts";
import type { RelayMetrics } from "./metrics.ts";

export interface HandlerClientOptions {
  /** Base URL of the handler, without a trailing slash. */
  url: string;
  cluster: string;
  /** The bearer token; called before every request so a rotated token file is picked up. */
  readToken: () => Promise<string>;
  retryBackoffBaseMs?: number;
  retryBackoffMaxMs: number;
  metrics: Pick<RelayMetrics, "sendRetries" | "rejectedLines" | "sendDurationS" | "batchRecords">;
  logger: Logger;
  fetch?: typeof fetch;
  delay?: Delay;
  random?: () => number;
  now?: () => number;
}

/** How a batch ended: stored (with per-line refusals), refused as a whole (4xx), or refused as fenced (409). */
export type SendOutcome =
  | { status: "stored"; response: IngestResponse }
  | { status: "refused"; httpStatus: number; code: string }
  | { status: "fenced" };

/** A failed attempt that is worth another (5xx, 429, network). */
class RetryableError extends Error {
  override name = "RetryableError";
  constructor(message: string, readonly reason: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** Client for `POST /v1/events` and `GET /v1/checkpoints/<cluster>`. */
export class HandlerClient {
  readonly #options: HandlerClientOptions;
  readonly #fetch: typeof fetch;
  readonly #delay: Delay;
  readonly #now: () => number;

  constructor(options: HandlerClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#delay = options.delay ?? realDelay;
    this.#now = options.now ?? Date.now;
  }

  /** The stored resume point, retried until it answers or `signal` aborts. Rejects only on abort or a 4xx. */
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
   * Sends one batch (gzip, with the fence and resume point), retrying 5xx, 429 and network failures with jittered
   * exponential backoff until it is answered or `signal` aborts. `body` is the batch already gzipped, if it is. A 4xx is never retried: 409 FENCED comes back as
   * "fenced", any other as "refused" with every line counted as rejected under the problem's code.
   */
  async sendBatch(
    batch: Batch,
    options: { fence: Fence; signal: AbortSignal; body?: Uint8Array<ArrayBuffer> },
  ): Promise<SendOutcome> {
    const { fence, signal } = options;
    const started = this.#now();
    const body = options.body ?? await gzipLines(batch.lines);
    const url = `${this.#options.url}${EVENTS_PATH}`;
    const outcome = await this.#withRetries("send batch", signal, async () => {
      const headers = await this.#headers();
      headers["content-type"] = NDJSON_CONTENT_TYPE;
      headers["content-encoding"] = "gzip";
      headers[FENCE_HOLDER_HEADER] = fence.holder;
      headers[FENCE_TRANSITIONS_HEADER] = String(fence.transitions);
      if (batch.resumeVersion !== null) headers[RESUME_VERSION_HEADER] = batch.resumeVersion;
      const response = await this.#request(url, { method: "POST", headers, body }, signal);
      if (response.ok) return { status: "stored", response: await response.json() as IngestResponse } as const;
      const code = await readProblemCode(response);
      if (response.status === 409) return { status: "fenced" } as const;
      return { status: "refused", httpStatus: response.status, code } as const;
    });
    const records = batch.lines.length;
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
      this.#options.logger.warn("handler fenced this relay: a newer leader has written", { records, ...fence });
    }
    return outcome;
  }

  async #headers(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.#options.readToken()}` };
  }

  async #request(url: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await this.#fetch(url, { ...init, signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new RetryableError(`Cannot reach the handler: ${describeError(error)}`, "NETWORK");
    }
    if (response.status >= 500 || response.status === 429) {
      const code = await readProblemCode(response);
      const retryAfterS = Number(response.headers.get("retry-after"));
      throw new RetryableError(
        `Cannot deliver to the handler: ${response.status} ${code}`,
        String(response.status),
        Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : undefined,
      );
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
        const waitMs = Math.min(retryBackoffMaxMs, Math.max(backoffMs, error.retryAfterMs ?? 0));
        this.#options.logger.warn(`cannot ${what}, retrying`, { reason: error.reason, failures: failures + 1, waitMs });
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

/** Gzips the lines into one buffer, so a retry re-sends the same bytes without compressing again. */
export async function gzipLines(lines: string[]): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob(lines).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
