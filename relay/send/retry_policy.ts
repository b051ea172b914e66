/**
 * Which failures of a request to the handler are worth another attempt, and the loop that makes them: jittered
 * exponential backoff (or the handler's Retry-After when longer), forever, until an answer or the signal's abort.
 */
import type { Logger } from "../../shared/telemetry/log.ts";
import type { Delay } from "../../shared/delay.ts";
import { toBackoffMs } from "../../shared/backoff.ts";

/** A failed attempt that is worth another (5xx, 429, 408, network, 401 and 403, an unreadable token file). */
export class RetryableError extends Error {
  override name = "RetryableError";
  constructor(
    message: string,
    /** What failed, as the retry metric counts it: the HTTP status, `NETWORK` or `TOKEN_UNREADABLE`. */
    readonly reason: string,
    readonly options: { code?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/** 401 and 403: the token is wrong or not yet allowed; it is read again before the next attempt. */
export function isAuthRefusalStatus(status: number): boolean {
  return status === 401 || status === 403;
}

/**
 * True for the answers that say "the same request will work later": 5xx, 429, 408, and the token refusals (401,
 * 403). Every other status is the batch's own answer and is never retried.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || isAuthRefusalStatus(status);
}

/** A Retry-After header in seconds as milliseconds; undefined when absent, not a positive number, or a date. */
export function toRetryAfterMs(header: string | null): number | undefined {
  const seconds = Number(header ?? "");
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

/** The RetryableError for a retryable answer (`isRetryableStatus(status)`) with problem `code`. */
export function toRetryableError(status: number, answer: { code: string; retryAfter: string | null }): RetryableError {
  const { code } = answer;
  if (isAuthRefusalStatus(status)) {
    return new RetryableError(`Cannot authenticate to the handler: ${status} ${code}`, String(status), { code });
  }
  return new RetryableError(`Cannot deliver to the handler: ${status} ${code}`, String(status), {
    code,
    retryAfterMs: toRetryAfterMs(answer.retryAfter),
  });
}

export interface RetryLoopOptions {
  /** What is being done, for the log line: "send batch". */
  what: string;
  signal: AbortSignal;
  backoffBaseMs: number;
  /** No wait is longer, Retry-After included. */
  backoffMaxMs: number;
  random?: () => number;
  delay: Delay;
  logger: Logger;
  /** Called before each wait with the failure's reason (the retry metric). */
  onRetry: (reason: string) => void;
}

/**
 * Runs `attempt` until it resolves. A RetryableError is logged, counted through `onRetry` and followed by a wait of
 * `toRetryWaitMs`; any other error, and the signal's abort (before an attempt or during a wait), rejects at once.
 */
export async function retryUntilAnswered<T>(attempt: () => Promise<T>, options: RetryLoopOptions): Promise<T> {
  const { signal } = options;
  for (let failures = 0;; failures++) {
    signal.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RetryableError) || signal.aborted) throw error;
      options.onRetry(error.reason);
      const waitMs = toRetryWaitMs(failures, error, options);
      options.logger.warn(`cannot ${options.what}, retrying`, {
        reason: error.reason,
        ...(error.options.code === undefined ? {} : { code: error.options.code }),
        failures: failures + 1,
        waitMs,
      });
      await options.delay(waitMs, signal);
    }
  }
}

/**
 * The wait after the failure numbered `failures` (from 0): the jittered backoff, or the answer's Retry-After when
 * that is longer, never more than `backoffMaxMs`.
 */
export function toRetryWaitMs(
  failures: number,
  error: RetryableError,
  options: Pick<RetryLoopOptions, "backoffBaseMs" | "backoffMaxMs" | "random">,
): number {
  const { backoffBaseMs, backoffMaxMs, random } = options;
  const backoffMs = toBackoffMs(failures, { baseMs: backoffBaseMs, maxMs: backoffMaxMs, random });
  return Math.min(backoffMaxMs, Math.max(backoffMs, error.options.retryAfterMs ?? 0));
}
