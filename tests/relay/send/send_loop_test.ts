import assert from "node:assert/strict";
import type { Batch } from "../../../relay/pipeline/batcher.ts";
import { gunzipLines, type GzipBatch } from "../../../relay/send/gzip_ndjson.ts";
import { isWorthSending, runSendLoop, type SendLoopOptions } from "../../../relay/send/send_loop.ts";
import type { SendOutcome } from "../../../relay/send/send_outcome.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

const FENCE = { holder: "relay-0", transitions: 4 };
const STORED: SendOutcome = { status: "stored", response: { accepted: 0, duplicates: 0, rejected: [] } };

const batch = (lines: string[], resumeVersion: string | null): Batch => ({
  lines,
  bytes: lines.join("").length,
  eventCount: lines.length,
  gapCount: 0,
  resumeVersion,
});

/** A batcher handing out `batches` in turn, then nothing; records whether each call was draining. */
function scriptedBatcher(batches: Batch[]) {
  const calls: boolean[] = [];
  return {
    calls,
    batcher: {
      next(options: { signal: AbortSignal; isDraining?: boolean }) {
        calls.push(options.isDraining === true);
        return Promise.resolve(batches.shift());
      },
    },
  };
}

/** A client that answers with `answer` and records each batch as [lines, resume point]. */
function recordingClient(answer: (sent: number) => Promise<SendOutcome> = () => Promise.resolve(STORED)) {
  const sent: [string, string | null][] = [];
  return {
    sent,
    client: {
      async sendBatch(gzipBatch: GzipBatch, options: { fence: typeof FENCE; signal: AbortSignal }) {
        assert.deepEqual(options.fence, FENCE);
        sent.push([(await gunzipLines(gzipBatch.body)).join(""), gzipBatch.resumeVersion]);
        return await answer(sent.length);
      },
    },
  };
}

function loopOptions(
  overrides: Partial<SendLoopOptions> & Pick<SendLoopOptions, "batcher" | "client">,
): SendLoopOptions {
  return {
    fence: FENCE,
    sendSignal: new AbortController().signal,
    flushSignal: new AbortController().signal,
    isWatchDone: () => true,
    onFenced: () => assert.fail("not fenced"),
    logger: createLogger({ isDebug: false, write: () => {} }),
    ...overrides,
  };
}

Deno.test("runSendLoop sends the batches in order and returns once the watch is done and nothing is left", async () => {
  const { batcher, calls } = scriptedBatcher([batch(["a\n", "b\n"], "10"), batch(["c\n"], "11")]);
  const { client, sent } = recordingClient();
  await runSendLoop(loopOptions({ batcher, client }));
  assert.deepEqual(sent, [["a\nb\n", "10"], ["c\n", "11"]]);
  // The next batch is asked for ahead: the third call found nothing and ended the loop, the fourth was abandoned.
  assert.deepEqual(calls, [true, true, true, true]);
});

Deno.test("runSendLoop sends an empty batch only to store a new resume point", async () => {
  const { batcher } = scriptedBatcher([
    batch(["a\n"], "10"),
    batch([], "10"),
    batch([], null),
    batch([], "12"),
    batch([], "12"),
  ]);
  const { client, sent } = recordingClient();
  await runSendLoop(loopOptions({ batcher, client }));
  assert.deepEqual(sent, [["a\n", "10"], ["", "12"]]);
});

Deno.test("isWorthSending keeps records and new resume points", () => {
  const gzip = (records: number, resumeVersion: string | null) => ({ body: new Uint8Array(0), records, resumeVersion });
  assert.equal(isWorthSending(gzip(1, null), null), true);
  assert.equal(isWorthSending(gzip(1, "5"), "5"), true);
  assert.equal(isWorthSending(gzip(0, "6"), "5"), true);
  assert.equal(isWorthSending(gzip(0, "5"), "5"), false);
  assert.equal(isWorthSending(gzip(0, null), "5"), false);
});

Deno.test("runSendLoop stops sending when fenced and says so once", async () => {
  const { batcher } = scriptedBatcher([batch(["a\n"], "10"), batch(["b\n"], "11"), batch(["c\n"], "12")]);
  const { client, sent } = recordingClient((n) => Promise.resolve(n === 2 ? { status: "fenced" } : STORED));
  let fenced = 0;
  await runSendLoop(loopOptions({ batcher, client, onFenced: () => fenced++ }));
  assert.deepEqual(sent.map(([lines]) => lines), ["a\n", "b\n"]);
  assert.equal(fenced, 1);
});

Deno.test("runSendLoop prepares the next batch while one is sent, and sends one at a time", async () => {
  const { batcher, calls } = scriptedBatcher([batch(["a\n"], "1"), batch(["b\n"], "2"), batch(["c\n"], "3")]);
  let inFlight = 0;
  let inFlightMax = 0;
  const callsWhileFirstSent: number[] = [];
  const { client, sent } = recordingClient(async (n) => {
    inFlight++;
    inFlightMax = Math.max(inFlightMax, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (n === 1) callsWhileFirstSent.push(calls.length);
    inFlight--;
    return STORED;
  });
  await runSendLoop(loopOptions({ batcher, client }));
  assert.deepEqual(sent.map(([lines]) => lines), ["a\n", "b\n", "c\n"]);
  assert.equal(inFlightMax, 1);
  assert.deepEqual(callsWhileFirstSent, [2]);
});

Deno.test("runSendLoop waits for a stopping watch, then drains what it queued", async () => {
  const batches: (Batch | undefined)[] = [batch(["a\n"], "1"), undefined, undefined];
  let isWatchDone = false;
  const flush = new AbortController();
  flush.abort();
  const waits: number[] = [];
  const drained = [batch(["b\n"], "2")];
  const batcher = {
    next(options: { isDraining?: boolean }) {
      return Promise.resolve(options.isDraining ? drained.shift() : batches.shift());
    },
  };
  const { client, sent } = recordingClient();
  await runSendLoop(loopOptions({
    batcher,
    client,
    flushSignal: flush.signal,
    isWatchDone: () => isWatchDone,
    delay: (ms) => {
      waits.push(ms);
      isWatchDone = true;
      return Promise.resolve();
    },
  }));
  assert.deepEqual(sent.map(([lines]) => lines), ["a\n", "b\n"]);
  // One wait per empty answer given while the watch was stopping (the next batch is always asked for ahead).
  assert.deepEqual(waits, [10, 10]);
});

Deno.test("runSendLoop rejects with the send's abort when sending stops mid-batch", async () => {
  const controller = new AbortController();
  const { batcher } = scriptedBatcher([batch(["a\n"], "1"), batch(["b\n"], "2")]);
  const client = {
    sendBatch(_batch: GzipBatch, options: { signal: AbortSignal }) {
      controller.abort(new Error("Cannot flush: SHUTDOWN_DEADLINE_S passed"));
      return Promise.reject(options.signal.reason);
    },
  };
  await assert.rejects(
    runSendLoop(loopOptions({ batcher, client, sendSignal: controller.signal })),
    { message: "Cannot flush: SHUTDOWN_DEADLINE_S passed" },
  );
});
