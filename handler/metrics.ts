/**
 * The handler's OpenTelemetry instruments, created from the shared metric catalogue (shared/metric_names.ts) on the
 * Meter passed in, and fed by the app's observer hook (handler/app_observer.ts). The SDK (exporters, histogram
 * views, /metrics text) is wired in handler/start.ts; this file only records.
 */
import type { Attributes, Counter, Histogram, Meter } from "@opentelemetry/api";
import { METRICS, type MetricSpec, toInstrumentOptions } from "../shared/telemetry/metric_names.ts";
import type { GapRecord } from "../shared/contract/records.ts";
import type { AppObserver, BatchOutcome, ResponseInfo } from "./http/app_observer.ts";

/** Distinct gap `reason` label values kept per process; further ones are counted under GAP_REASON_OTHER. */
export const GAP_REASONS_MAX = 16;

/** The `reason` label of a gap whose reason is not a SCREAMING_SNAKE code, or beyond GAP_REASONS_MAX. */
export const GAP_REASON_OTHER = "OTHER";

/** What the handler records: the app observer, both methods present. */
export interface HandlerMetrics extends AppObserver {
  /** Counts one answered request and records its duration, both by route and status. */
  onResponse(info: ResponseInfo): void;
  /** Records one write transaction: size and duration always; rows, lag, rejects and gaps when committed. */
  onBatch(outcome: BatchOutcome): void;
  /** Registers the source of the memory budget gauge (bytes held by the requests in flight). */
  observeMemoryBudget(readUsedBytes: () => number): void;
}

/** Gap reasons arrive from the relays as free text; labels keep only short codes so series stay bounded. */
const GAP_REASON_CODE = /^[A-Z][A-Z0-9_]{0,47}$/;

/**
 * Creates every handler instrument of the catalogue on `meter` and returns the observer that records them.
 *
 * - requests and request duration (s): one per answered request, labels `route` and `status` (the HTTP status as
 *   text).
 * - batch flush duration (s) and size (valid event rows, duplicates included): every write transaction, committed or
 *   not.
 * - rows inserted, duplicates, rejected lines by `code` (twice: the Krateo `records.build.failure` by `reason`, and
 *   `handler.rejected_lines` by `cluster` and `code`), gap records by `reason`, and the commit lag of every valid
 *   event row of the batch (duplicates included: a replayed version is measured from its own timestamp to this
 *   commit): committed transactions only, so a batch retried after a 503 is counted once.
 * - insert failures by `type` (unavailable, fenced, error): transactions that stored nothing.
 *
 * The returned methods do not throw for any outcome the app reports.
 */
export function createHandlerMetrics(meter: Meter): HandlerMetrics {
  const counter = (spec: MetricSpec): Counter => meter.createCounter(spec.name, toInstrumentOptions(spec));
  const histogram = (spec: MetricSpec): Histogram => meter.createHistogram(spec.name, toInstrumentOptions(spec));
  const requests = counter(METRICS.handlerRequests);
  const requestDurationS = histogram(METRICS.handlerRequestDuration);
  const flushDurationS = histogram(METRICS.batchFlushDuration);
  const flushSize = histogram(METRICS.batchFlushSize);
  const insertRows = counter(METRICS.dbInsertRows);
  const insertDuplicates = counter(METRICS.dbInsertDuplicates);
  const insertFailures = counter(METRICS.dbInsertFailure);
  const buildFailures = counter(METRICS.recordsBuildFailure);
  const rejectedLines = counter(METRICS.handlerRejectedLines);
  const gapRecords = counter(METRICS.handlerGapRecords);
  const commitLagS = histogram(METRICS.commitLag);
  const gapReasons = new Set<string>();
  let readMemoryBudgetUsed = () => 0;
  meter.createObservableGauge(
    METRICS.handlerMemoryBudgetUsed.name,
    toInstrumentOptions(METRICS.handlerMemoryBudgetUsed),
  )
    .addCallback((result) => result.observe(readMemoryBudgetUsed()));

  function toGapReasonLabel(reason: string): string {
    if (gapReasons.has(reason)) return reason;
    if (!GAP_REASON_CODE.test(reason) || gapReasons.size >= GAP_REASONS_MAX) return GAP_REASON_OTHER;
    gapReasons.add(reason);
    return reason;
  }

  function recordRejected(outcome: BatchOutcome): void {
    const byCode = new Map<string, number>();
    for (const error of outcome.rejected) byCode.set(error.code, (byCode.get(error.code) ?? 0) + 1);
    for (const [code, n] of byCode) {
      buildFailures.add(n, { reason: code });
      rejectedLines.add(n, { cluster: outcome.cluster, code });
    }
  }

  function recordGaps(outcome: BatchOutcome, inserted: number): void {
    for (const [reason, n] of countStoredGapsByReason(outcome.gaps, inserted)) {
      gapRecords.add(n, { cluster: outcome.cluster, reason: toGapReasonLabel(reason) });
    }
  }

  function recordLag(outcome: BatchOutcome, committedAt: Date): void {
    const attributes: Attributes = { cluster: outcome.cluster };
    const committedMs = committedAt.getTime();
    for (const row of outcome.rows) {
      // A clock behind the event's own timestamp would give a negative lag; histograms take none, and 0 is the truth
      // as far as this process can tell.
      // Date.parse reads the row's UTC timestamp to the millisecond, all a lag in seconds needs.
      commitLagS.record(Math.max(0, committedMs - Date.parse(row.createdAt)) / 1000, attributes);
    }
  }

  return {
    observeMemoryBudget(readUsedBytes) {
      readMemoryBudgetUsed = readUsedBytes;
    },
    onResponse({ route, status, durationS }) {
      const attributes = { route, status: String(status) };
      requests.add(1, attributes);
      requestDurationS.record(durationS, attributes);
    },
    onBatch(outcome) {
      flushDurationS.record(outcome.durationS);
      flushSize.record(outcome.rows.length);
      if (outcome.failure !== undefined || outcome.result === undefined) {
        insertFailures.add(1, { type: outcome.failure ?? "error" });
        return;
      }
      const cluster = { cluster: outcome.cluster };
      insertRows.add(outcome.result.inserted, cluster);
      insertDuplicates.add(outcome.result.duplicates, cluster);
      recordRejected(outcome);
      recordGaps(outcome, outcome.result.gapsInserted);
      recordLag(outcome, outcome.committedAt ?? new Date());
    },
  };
}

/**
 * How many of a batch's gap records were stored, by reason. The store reports only a total (a gap already stored,
 * or repeated in the batch, is not stored again): identical gaps are merged first, and when fewer were stored than
 * remain, the stored ones are taken in batch order (exact whenever the batch's gaps share one reason, as a relay
 * sends them).
 */
export function countStoredGapsByReason(gaps: readonly GapRecord[], inserted: number): Map<string, number> {
  const distinct = new Map<string, string>();
  for (const gap of gaps) distinct.set(JSON.stringify([gap.cluster, gap.from, gap.to, gap.reason]), gap.reason);
  const counts = new Map<string, number>();
  let left = inserted;
  for (const reason of distinct.values()) {
    if (left <= 0) break;
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    left--;
  }
  return counts;
}
