import assert from "node:assert/strict";
import { createLogger } from "../../../shared/telemetry/log.ts";
import type { Delay } from "../../../shared/delay.ts";
import {
  isRetryableStatus,
  RetryableError,
  retryUntilAnswered,
  toRetryableError,
  toRetryAfterMs,
  toRetryWaitMs,
} from "../../../relay/send/retry_policy.ts";

Deno.test("isRetryableStatus retries 5xx, 429, 408, 401 and 403 and nothing else", () => {
  const statuses = [200, 400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504];
  assert.deepEqual(statuses.filter(isRetryableStatus), [401, 403, 408, 429, 500, 502, 503, 504]);
});

Deno.test("toRetryAfterMs reads whole and fractional seconds and ignores anything else", () => {
  assert.equal(toRetryAfterMs("3"), 3_000);
  assert.equal(toRetryAfterMs("0.5"), 500);
  for (const header of [null, "", "0", "-1", "soon", "Wed, 21 Oct 2026 07:28:00 GMT"]) {
    assert.equal(toRetryAfterMs(header), undefined, String(header));
  }
});

Deno.test("toRetryableError names token refusals and deliveries apart, with the status as reason", () => {
  const refused = toRetryableError(403, { code: "FORBIDDEN_CLUSTER", retryAfter: "9" });
  assert.equal(refused.message, "Cannot authenticate to the handler: 403 FORBIDDEN_CLUSTER");
  assert.deepEqual([refused.reason, refused.options], ["403", { code: "FORBIDDEN_CLUSTER" }]);
  const busy = toRetryableError(503, { code: "DATABASE_UNAVAILABLE", retryAfter: "2" });
  assert.equal(busy.message, "Cannot deliver to the handler: 503 DATABASE_UNAVAILABLE");
  assert.deepEqual([busy.reason, busy.options], ["503", { code: "DATABASE_UNAVAILABLE", retryAfterMs: 2_000 }]);
});

Deno.test("toRetryWaitMs takes the longer of the backoff and Retry-After, capped at backoffMaxMs", () => {
  const options = { backoffBaseMs: 100, backoffMaxMs: 5_000, random: () => 0.5 };
  const plain = new RetryableError("x", "503");
  assert.deepEqual([0, 1, 2, 6, 7].map((failures) => toRetryWaitMs(failures, plain, options)), [
    50,
    100,
    200,
    2_500,
    2_500,
  ]);
  assert.equal(toRetryWaitMs(0, new RetryableError("x", "503", { retryAfterMs: 1_000 }), options), 1_000);
  assert.equal(toRetryWaitMs(0, new RetryableError("x", "503", { retryAfterMs: 60_000 }), options), 5_000);
});

/** A retry loop whose waits are recorded instead of slept, and whose log lines are kept. */
function loop(signal: AbortSignal = new AbortController().signal) {
  const waits: number[] = [];
  const reasons: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const delay: Delay = (ms, waitSignal) => {
    waits.push(ms);
    waitSignal?.throwIfAborted();
    return Promise.resolve();
  };
  const options = {
    what: "send batch",
    signal,
    backoffBaseMs: 100,
    backoffMaxMs: 1_000,
    random: () => 0.5,
    delay,
    logger: createLogger({ isDebug: false, write: (line) => lines.push(JSON.parse(line)) }),
    onRetry: (reason: string) => reasons.push(reason),
  };
  return { options, waits, reasons, lines };
}

Deno.test("retryUntilAnswered retries RetryableError with growing waits until an answer", async () => {
  const { options, waits, reasons, lines } = loop();
  const failures = [
    new RetryableError("Cannot reach the handler: refused", "NETWORK"),
    toRetryableError(503, { code: "DATABASE_UNAVAILABLE", retryAfter: null }),
    toRetryableError(429, { code: "TOO_MANY_REQUESTS", retryAfter: "0.7" }),
  ];
  let attempts = 0;
  const answer = await retryUntilAnswered(() => {
    const failure = failures[attempts++];
    return failure === undefined ? Promise.resolve("stored") : Promise.reject(failure);
  }, options);
  assert.equal(answer, "stored");
  assert.equal(attempts, 4);
  assert.deepEqual(waits, [50, 100, 700]);
  assert.deepEqual(reasons, ["NETWORK", "503", "429"]);
  assert.deepEqual(
    lines.map(({ level, msg, reason, code, failures, waitMs }) => ({ level, msg, reason, code, failures, waitMs })),
    [
      {
        level: "warn",
        msg: "cannot send batch, retrying",
        reason: "NETWORK",
        code: undefined,
        failures: 1,
        waitMs: 50,
      },
      {
        level: "warn",
        msg: "cannot send batch, retrying",
        reason: "503",
        code: "DATABASE_UNAVAILABLE",
        failures: 2,
        waitMs: 100,
      },
      {
        level: "warn",
        msg: "cannot send batch, retrying",
        reason: "429",
        code: "TOO_MANY_REQUESTS",
        failures: 3,
        waitMs: 700,
      },
    ],
  );
});

Deno.test("retryUntilAnswered rejects at once with an error that is not retryable", async () => {
  const { options, waits, reasons } = loop();
  let attempts = 0;
  const refused = new Error("Cannot read the checkpoint: 404 NOT_FOUND");
  await assert.rejects(retryUntilAnswered(() => (attempts++, Promise.reject(refused)), options), refused);
  assert.deepEqual([attempts, waits, reasons], [1, [], []]);
});

Deno.test("retryUntilAnswered makes no attempt once the signal has aborted", async () => {
  const aborted = new AbortController();
  aborted.abort(new Error("shutdown"));
  let attempts = 0;
  await assert.rejects(
    retryUntilAnswered(() => (attempts++, Promise.resolve(1)), loop(aborted.signal).options),
    { message: "shutdown" },
  );
  assert.equal(attempts, 0);
});

Deno.test("retryUntilAnswered rejects with the signal's reason when it aborts during a wait", async () => {
  const controller = new AbortController();
  const { options, waits } = loop(controller.signal);
  let attempts = 0;
  const delay: Delay = (ms, signal) => {
    waits.push(ms);
    controller.abort(new Error("shutdown"));
    signal?.throwIfAborted();
    return Promise.resolve();
  };
  const failing = () => (attempts++, Promise.reject(new RetryableError("Cannot reach the handler: reset", "NETWORK")));
  await assert.rejects(retryUntilAnswered(failing, { ...options, delay }), { message: "shutdown" });
  assert.deepEqual([attempts, waits], [1, [50]]);
});

Deno.test("retryUntilAnswered passes on the attempt's own error when the signal aborted during it", async () => {
  const controller = new AbortController();
  const { options, waits, reasons } = loop(controller.signal);
  const failing = retryUntilAnswered(() => {
    controller.abort(new Error("shutdown"));
    return Promise.reject(new RetryableError("Cannot reach the handler: aborted", "NETWORK"));
  }, options);
  await assert.rejects(failing, { message: "Cannot reach the handler: aborted" });
  assert.deepEqual([waits, reasons], [[], []]);
});
