/**
 * Turns queued items into batches bounded by records, bytes and time, enriching each event on the way.
 */
import type { Enrichment } from "../../shared/contract/records.ts";
import { RECORD_VERSION } from "../../shared/contract/records.ts";
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import type { ByteQueue } from "./byte_queue.ts";
import type { QueueItem } from "./queue_item.ts";
import { toUtf8Length } from "../../shared/contract/utf8.ts";
import { linkSignals } from "../linked_signal.ts";

/** One batch ready to send. */
export interface Batch {
  /** NDJSON lines, each ending in `\n`. */
  lines: string[];
  /** UTF-8 bytes of all lines. */
  bytes: number;
  eventCount: number;
  gapCount: number;
  /** The watch position safe to resume from once this batch (and every earlier one) is stored; null if none. */
  resumeVersion: string | null;
}

export interface BatcherOptions {
  queue: ByteQueue<QueueItem>;
  cluster: string;
  batchRecordsMax: number;
  batchBytesMax: number;
  /** A batch goes out at the latest this long after its first item was queued. */
  flushIntervalMs: number;
  /** Looks up the involved object; must settle within its own bound (the enricher's timeout). */
  enrich: (item: QueueItem & { kind: "event" }) => Promise<Enrichment | undefined>;
  now?: () => number;
  delay?: Delay;
}

/** Abort reason that ends a batch's flush wait (a constant: creating a DOMException per batch is not free). */
const FLUSH_WAIT_OVER = new Error("flush wait over");

/** Bytes an enrichment is assumed to add to a line before it is known. */
const ENRICHMENT_BYTES_ESTIMATE = 256;

/**
 * Collects batches from the queue. A batch closes when it has `batchRecordsMax` records, when the next line would
 * take it past `batchBytesMax` (that line starts the next batch), or `flushIntervalMs` after its first item was
 * queued. A single line larger than `batchBytesMax` goes out alone (the handler answers for it).
 */
export class Batcher {
  readonly #options: BatcherOptions;
  readonly #now: () => number;
  readonly #delay: Delay;
  /** Items taken from the queue and enriched, that did not fit the previous batch. */
  #carry: { item: QueueItem; line: string | null; bytes: number }[] = [];
  /** The start every event line shares. */
  readonly #lineStart: string;

  constructor(options: BatcherOptions) {
    this.#options = options;
    this.#lineStart = `{"v":${RECORD_VERSION},"kind":"event","cluster":${JSON.stringify(options.cluster)},`;
    this.#now = options.now ?? Date.now;
    this.#delay = options.delay ?? realDelay;
  }

  /** True when nothing is waiting, in the queue or carried over. */
  get isEmpty(): boolean {
    return this.#carry.length === 0 && this.#options.queue.length === 0;
  }

  /**
   * The next batch. Waits for a first item, then until the batch is full or its flush time has come. When `signal`
   * aborts it stops waiting and returns what it has (undefined when nothing); items already taken are never lost.
   * With `isDraining`, returns what is there without waiting, and undefined when nothing is left.
   */
  async next(options: { signal: AbortSignal; isDraining?: boolean }): Promise<Batch | undefined> {
    const { queue, batchRecordsMax, batchBytesMax, flushIntervalMs } = this.#options;
    const { signal, isDraining = false } = options;
    if (this.#carry.length === 0 && queue.length === 0) {
      if (isDraining || signal.aborted) return undefined;
      if (!await this.#waitForFirstItem(signal)) return undefined;
    }
    const firstAtMs = this.#carry[0]?.item.queuedAtMs ?? queue.peek()!.queuedAtMs;
    const deadlineMs = firstAtMs + flushIntervalMs;
    const taken: QueueItem[] = [];
    let records = this.#carry.filter((c) => c.line !== null).length;
    let estimate = this.#carry.reduce((sum, c) => sum + c.bytes, 0);
    // One timer and one linked signal per batch, not per wait: while the watch is slower than the sender, the queue
    // runs empty after almost every item.
    let flushWait: { expired: Promise<false>; stop: ReturnType<typeof linkSignals> } | undefined;
    try {
      while (records < batchRecordsMax && estimate < batchBytesMax) {
        const item = queue.shift();
        if (item === undefined) {
          const waitMs = deadlineMs - this.#now();
          if (isDraining || waitMs <= 0 || signal.aborted) break;
          if (flushWait === undefined) {
            const stop = linkSignals(signal);
            flushWait = { stop, expired: this.#delay(waitMs, stop.signal).then(() => false, () => false) };
          }
          const arrived = queue.waitForItem(flushWait.stop.signal).then(() => true, () => false);
          if (!await Promise.race([arrived, flushWait.expired]) || queue.length === 0) break;
          continue;
        }
        taken.push(item);
        if (item.kind === "event") {
          records++;
          estimate += item.eventBytes + ENRICHMENT_BYTES_ESTIMATE;
        } else if (item.kind === "gap") records++;
      }
    } finally {
      // Settles the timer and any waiter still registered; the reason is never seen.
      flushWait?.stop.abort(FLUSH_WAIT_OVER);
      flushWait?.stop.dispose();
    }
    const encoded = await Promise.all(taken.map((item) => this.#encode(item)));
    const all = [...this.#carry, ...encoded];
    this.#carry = [];
    return this.#assemble(all);
  }

  #assemble(all: { item: QueueItem; line: string | null; bytes: number }[]): Batch {
    const { batchRecordsMax, batchBytesMax } = this.#options;
    const batch: Batch = { lines: [], bytes: 0, eventCount: 0, gapCount: 0, resumeVersion: null };
    let index = 0;
    for (; index < all.length; index++) {
      const { item, line, bytes } = all[index]!;
      if (line !== null) {
        const isFull = batch.lines.length >= batchRecordsMax || batch.bytes + bytes > batchBytesMax;
        if (isFull && batch.lines.length > 0) break;
        batch.lines.push(line);
        batch.bytes += bytes;
        if (item.kind === "event") batch.eventCount++;
        else batch.gapCount++;
      }
      if (item.resumeVersion !== null) batch.resumeVersion = item.resumeVersion;
    }
    this.#carry = all.slice(index);
    return batch;
  }

  async #encode(item: QueueItem): Promise<{ item: QueueItem; line: string | null; bytes: number }> {
    if (item.kind === "gap") {
      const line = JSON.stringify(item.record) + "\n";
      return { item, line, bytes: toUtf8Length(line) };
    }
    if (item.kind !== "event") return { item, line: null, bytes: 0 };
    const enrichment = await this.#options.enrich(item);
    const head = `${this.#lineStart}"observedAt":"${item.observedAt}","event":`;
    const replaced = item.replacedVersions ? `,"replacedVersions":${item.replacedVersions}` : "";
    const tail = enrichment === undefined
      ? `${replaced}}\n`
      : `${replaced},"enrichment":${JSON.stringify(enrichment)}}\n`;
    // The event's byte length is known from the queue; only the short parts around it are measured here.
    return {
      item,
      line: head + item.eventJson + tail,
      bytes: toUtf8Length(head) + item.eventBytes + toUtf8Length(tail),
    };
  }

  /** Waits for the queue to hold an item; false when `signal` aborted (the queue's only rejection). */
  async #waitForFirstItem(signal: AbortSignal): Promise<boolean> {
    const hasItem = await this.#options.queue.waitForItem(signal).then(() => true, () => false);
    return hasItem && this.#options.queue.length > 0;
  }
}
