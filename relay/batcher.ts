/**
 * Turns queued items into batches bounded by records, bytes and time, enriching each event on the way.
 */
import type { Enrichment } from "../shared/records.ts";
import { RECORD_VERSION } from "../shared/records.ts";
import { type Delay, delay as realDelay } from "./backoff.ts";
import type { ByteQueue } from "./byte_queue.ts";
import { type QueueItem, toUtf8Length } from "./queue_item.ts";
import { linkSignals } from "./linked_signal.ts";

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

  constructor(options: BatcherOptions) {
    this.#options = options;
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
      if (!await this.#waitForItem(Infinity, signal)) return undefined;
    }
    const firstAtMs = this.#carry[0]?.item.queuedAtMs ?? queue.peek()!.queuedAtMs;
    const deadlineMs = firstAtMs + flushIntervalMs;
    const taken: QueueItem[] = [];
    let records = this.#carry.filter((c) => c.line !== null).length;
    let estimate = this.#carry.reduce((sum, c) => sum + c.bytes, 0);
    while (records < batchRecordsMax && estimate < batchBytesMax) {
      const item = queue.shift();
      if (item === undefined) {
        const waitMs = deadlineMs - this.#now();
        if (isDraining || waitMs <= 0 || signal.aborted) break;
        if (!await this.#waitForItem(waitMs, signal)) break;
        continue;
      }
      taken.push(item);
      if (item.kind === "event") {
        records++;
        estimate += toUtf8Length(item.eventJson) + ENRICHMENT_BYTES_ESTIMATE;
      } else if (item.kind === "gap") records++;
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
    let line: string | null = null;
    if (item.kind === "gap") line = JSON.stringify(item.record) + "\n";
    else if (item.kind === "event") {
      const enrichment = await this.#options.enrich(item);
      line = `{"v":${RECORD_VERSION},"kind":"event","cluster":${JSON.stringify(this.#options.cluster)},` +
        `"observedAt":"${item.observedAt}","event":${item.eventJson}` +
        (enrichment === undefined ? "}\n" : `,"enrichment":${JSON.stringify(enrichment)}}\n`);
    }
    return { item, line, bytes: line === null ? 0 : toUtf8Length(line) };
  }

  /** Waits up to `ms` for the queue to hold an item; false when the time ran out or `signal` aborted. */
  async #waitForItem(ms: number, signal: AbortSignal): Promise<boolean> {
    const stop = linkSignals(signal);
    const both = stop.signal;
    // Both waits settle (the loser by the abort below), so neither leaves an unhandled rejection behind.
    const arrived = this.#options.queue.waitForItem(both).then(() => true, () => false);
    const waits = [arrived];
    if (Number.isFinite(ms)) waits.push(this.#delay(ms, both).then(() => false, () => false));
    const hasItem = await Promise.race(waits);
    stop.abort();
    return hasItem && this.#options.queue.length > 0;
  }
}
