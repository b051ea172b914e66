/**
 * The leader's sender: batches go to the handler one at a time, in order (a resume point must never be stored before
 * the batches it covers), while the next batch is already being collected, enriched and compressed.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import type { Fence } from "../../shared/contract/protocol.ts";
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import type { Batcher } from "../pipeline/batcher.ts";
import { type GzipBatch, gzipLines } from "./gzip_ndjson.ts";
import type { HandlerClient } from "./handler_client.ts";

export interface SendLoopOptions {
  batcher: Pick<Batcher, "next">;
  client: Pick<HandlerClient, "sendBatch">;
  fence: Fence;
  /** Stops sending: leadership lost, stepping down, or the shutdown deadline passed. */
  sendSignal: AbortSignal;
  /** Aborts when the watch is stopping: the batcher then hands over what it has without waiting for more. */
  flushSignal: AbortSignal;
  /** True once the watch has stopped queueing: what is left is drained, then the loop returns. */
  isWatchDone: () => boolean;
  /** Called when the handler fences this relay (a newer leader has written); the loop returns right after. */
  onFenced: () => void;
  logger: Logger;
  now?: () => number;
  delay?: Delay;
}

/** A batch ready to go: its gzipped body, and its size before compression for the logs. */
type PreparedBatch = GzipBatch & { bytes: number };

/** How long the loop waits for a stopping watch before it looks for the last batches again. */
const WATCH_STOP_POLL_MS = 10;

/**
 * Sends batches until the watch is done and everything it queued is sent, until fenced, or until `sendSignal`
 * aborts (then rejects with a send's abort, or returns when no send was under way). A batch with no records is sent
 * only to store a new resume point.
 */
export async function runSendLoop(options: SendLoopOptions): Promise<void> {
  const { sendSignal, flushSignal, logger } = options;
  const delay = options.delay ?? realDelay;
  let lastResumeVersion: string | null = null;
  let next = prepareBatch(options);
  try {
    while (!sendSignal.aborted) {
      const { batch, isDraining } = await next;
      next = prepareBatch(options);
      if (batch === undefined) {
        if (isDraining) return;
        // The watch is stopping: wait for it, then drain what it queued.
        if (flushSignal.aborted) await delay(WATCH_STOP_POLL_MS);
        continue;
      }
      if (!isWorthSending(batch, lastResumeVersion)) continue;
      if (await sendOne(batch, options) === "fenced") {
        options.onFenced();
        return;
      }
      if (batch.resumeVersion !== null) lastResumeVersion = batch.resumeVersion;
    }
  } finally {
    // The batch being prepared is abandoned with its queue; it settles without anyone waiting for it.
    next.catch((error) => logger.warn("abandoned batch failed", { error: describeError(error) }));
  }
}

/** The next batch, gzipped; undefined when there is none (yet, or at all when `isDraining`). */
async function prepareBatch(
  options: Pick<SendLoopOptions, "batcher" | "flushSignal" | "isWatchDone">,
): Promise<{ batch: PreparedBatch | undefined; isDraining: boolean }> {
  const isDraining = options.isWatchDone();
  const next = await options.batcher.next({ signal: options.flushSignal, isDraining });
  if (next === undefined) return { batch: undefined, isDraining };
  // Only the gzipped body is kept while the batch waits and is sent: its lines are garbage from here on.
  const batch = {
    body: await gzipLines(next.lines),
    records: next.lines.length,
    bytes: next.bytes,
    resumeVersion: next.resumeVersion,
  };
  return { batch, isDraining };
}

/** False for a batch with no records whose resume point is none or the one already stored. */
export function isWorthSending(batch: GzipBatch, lastResumeVersion: string | null): boolean {
  return batch.records > 0 || (batch.resumeVersion !== null && batch.resumeVersion !== lastResumeVersion);
}

async function sendOne(batch: PreparedBatch, options: SendLoopOptions): Promise<"stored" | "refused" | "fenced"> {
  const now = options.now ?? Date.now;
  const started = now();
  const outcome = await options.client.sendBatch(batch, { fence: options.fence, signal: options.sendSignal });
  options.logger.debug("batch sent", { records: batch.records, bytes: batch.bytes, sendMs: now() - started });
  return outcome.status;
}
