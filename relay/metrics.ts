/**
 * The relay's OpenTelemetry instruments, created from the shared metric catalogue (shared/metric_names.ts) on the
 * meter passed in: the SDK's when OTLP is enabled, else the SDK-free PrometheusMeter. Both are wired in main.ts.
 */
import type { Counter, Histogram } from "@opentelemetry/api";
import type { MetricsMeter } from "../shared/telemetry/prometheus_meter.ts";
import { METRICS, type MetricSpec, toInstrumentOptions } from "../shared/telemetry/metric_names.ts";

/** What the relay records. Gauges read the sources registered with `observe*`. */
export interface RelayMetrics {
  /** Event versions (ADDED or MODIFIED) read from list or watch. */
  eventsReceived: Counter;
  /** Event records queued for sending. */
  eventsDispatched: Counter;
  /** Event versions not queued, by `reason` (only `same_resource_version`). */
  eventsDropped: Counter;
  /** Seconds to enrich one event, by `result` (hit, miss, error). */
  compositionLookupDurationS: Histogram;
  watchReconnects: Counter;
  relists: Counter;
  bookmarks: Counter;
  batchRecords: Histogram;
  /** Seconds from the first attempt to the final answer of one batch, retries included. */
  sendDurationS: Histogram;
  /** Retried send attempts, by `reason` (HTTP status or NETWORK). */
  sendRetries: Counter;
  /** Records the handler refused, by `code`. */
  rejectedLines: Counter;
  enrichCacheHits: Counter;
  enrichCacheMisses: Counter;
  /** Failed lookups, by `code`; the event went out unenriched. */
  enrichFailures: Counter;
  gapRecords: Counter;
  /** Queued versions replaced by a newer version of the same event (storm control). */
  versionsReplaced: Counter;
  /** Registers the source of the queue gauges (bytes and records waiting). */
  observeQueue(read: () => { bytes: number; records: number }): void;
  /** Registers the source of the leader gauge (1 leader, 0 standby). */
  observeIsLeader(read: () => boolean): void;
}

/** Creates every relay instrument of the catalogue on `meter`. */
export function createRelayMetrics(meter: MetricsMeter): RelayMetrics {
  const counter = (spec: MetricSpec) => meter.createCounter(spec.name, toInstrumentOptions(spec));
  const histogram = (spec: MetricSpec) => meter.createHistogram(spec.name, toInstrumentOptions(spec));
  let readQueue = () => ({ bytes: 0, records: 0 });
  let readIsLeader = () => false;
  meter.createObservableGauge(METRICS.relayQueueBytes.name, toInstrumentOptions(METRICS.relayQueueBytes))
    .addCallback((result) => result.observe(readQueue().bytes));
  meter.createObservableGauge(METRICS.queueDepth.name, toInstrumentOptions(METRICS.queueDepth))
    .addCallback((result) => result.observe(readQueue().records));
  meter.createObservableGauge(METRICS.relayLeader.name, toInstrumentOptions(METRICS.relayLeader))
    .addCallback((result) => result.observe(readIsLeader() ? 1 : 0));
  return {
    eventsReceived: counter(METRICS.eventsReceived),
    eventsDispatched: counter(METRICS.eventsDispatched),
    eventsDropped: counter(METRICS.eventsDropped),
    compositionLookupDurationS: histogram(METRICS.compositionLookupDuration),
    watchReconnects: counter(METRICS.relayWatchReconnects),
    relists: counter(METRICS.relayRelists),
    bookmarks: counter(METRICS.relayBookmarks),
    batchRecords: histogram(METRICS.relayBatchRecords),
    sendDurationS: histogram(METRICS.relaySendDuration),
    sendRetries: counter(METRICS.relaySendRetries),
    rejectedLines: counter(METRICS.relayRejectedLines),
    enrichCacheHits: counter(METRICS.relayEnrichmentCacheHits),
    enrichCacheMisses: counter(METRICS.relayEnrichmentCacheMisses),
    enrichFailures: counter(METRICS.relayEnrichmentFailures),
    gapRecords: counter(METRICS.relayGapRecords),
    versionsReplaced: counter(METRICS.relayVersionsReplaced),
    observeQueue(read) {
      readQueue = read;
    },
    observeIsLeader(read) {
      readIsLeader = read;
    },
  };
}
