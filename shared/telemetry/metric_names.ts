/**
 * The metric catalogue both components agree on: OpenTelemetry instrument names, kinds, units, descriptions and
 * label keys. Pure constants; `handler/metrics.ts` and `relay/metrics.ts` create their instruments from these.
 *
 * The first group keeps the names and meanings of the Krateo events-ingester (`events_ingester.*`),
 * so existing dashboards and alerts keep working; the second group is new in this design. Names are exposed to
 * Prometheus with dots turned into underscores and `_total` added to counters ({@link toPrometheusName}); an
 * OpenTelemetry Collector with its default Prometheus translation produces the same names, because every name whose
 * unit would add a suffix already ends in it (`_seconds`, `_bytes`).
 */

/** How an instrument aggregates: monotonic counter, explicit-bucket histogram, or last value. */
export type MetricKind = "counter" | "histogram" | "gauge";

/** The component that records a metric. */
export type MetricSide = "handler" | "relay";

/** Where a name comes from: kept from the Krateo events-ingester, or added by this design. */
export type MetricOrigin = "krateo" | "new";

/** One metric: what an operator reads in the metrics tables of shared/telemetry/README.md. */
export interface MetricSpec {
  /** OpenTelemetry instrument name. */
  name: string;
  kind: MetricKind;
  /** UCUM unit: `s` for seconds (histograms in seconds get second-scale buckets), `By` for bytes, `{x}` for counts. */
  unit: string;
  description: string;
  /** Attribute keys the recorder sets; every value set is bounded (codes, reasons, configured cluster names). */
  labels: readonly string[];
  side: MetricSide;
  origin: MetricOrigin;
}

/** Unit of every duration and lag histogram; the SDK gives these second-scale buckets. */
export const UNIT_SECONDS = "s";
/** Unit of byte sizes; the SDK gives byte-scale histogram buckets. */
export const UNIT_BYTES = "By";
/** Unit of record and row counts in histograms; the SDK gives count-scale buckets. */
export const UNIT_RECORDS = "{record}";

/** The catalogue, keyed by the name each recorder uses in code. */
export const METRICS = {
  // Kept from the Krateo events-ingester: same names, same meanings.
  eventsReceived: {
    name: "events_ingester.events.received",
    kind: "counter",
    unit: "{event}",
    description: "Event versions (ADDED or MODIFIED) read from the Kubernetes list or watch.",
    labels: [],
    side: "relay",
    origin: "krateo",
  },
  eventsDispatched: {
    name: "events_ingester.events.dispatched",
    kind: "counter",
    unit: "{event}",
    description: "Event records queued for sending to the handler.",
    labels: [],
    side: "relay",
    origin: "krateo",
  },
  eventsDropped: {
    name: "events_ingester.events.dropped",
    kind: "counter",
    unit: "{event}",
    description:
      "Watch events not queued, by reason. The only reason is same_resource_version: that version was already queued. Nothing is dropped for age, partition range or labels.",
    labels: ["reason"],
    side: "relay",
    origin: "krateo",
  },
  compositionLookupDuration: {
    name: "events_ingester.composition.lookup.duration_seconds",
    kind: "histogram",
    unit: UNIT_SECONDS,
    description: "Time to look up the involved object's metadata and composition id, by result (hit, miss, error).",
    labels: ["result"],
    side: "relay",
    origin: "krateo",
  },
  queueDepth: {
    name: "events_ingester.queue.depth",
    kind: "gauge",
    unit: "{record}",
    description: "Records waiting in the relay's send queue.",
    labels: [],
    side: "relay",
    origin: "krateo",
  },
  recordsBuildFailure: {
    name: "events_ingester.records.build.failure",
    kind: "counter",
    unit: "{record}",
    description:
      "Lines that could not be turned into a row or gap record, by reason (the line error code). Counts the same lines as events_ingester.handler.rejected_lines; kept for existing alerts.",
    labels: ["reason"],
    side: "handler",
    origin: "krateo",
  },
  batchFlushDuration: {
    name: "events_ingester.batch.flush.duration_seconds",
    kind: "histogram",
    unit: UNIT_SECONDS,
    description: "Duration of one write transaction (bulk upsert, gap records and resume point), committed or not.",
    labels: [],
    side: "handler",
    origin: "krateo",
  },
  batchFlushSize: {
    name: "events_ingester.batch.flush.size",
    kind: "histogram",
    unit: UNIT_RECORDS,
    description: "Valid event rows in one write transaction, duplicates included.",
    labels: [],
    side: "handler",
    origin: "krateo",
  },
  dbInsertRows: {
    name: "events_ingester.db.insert.rows",
    kind: "counter",
    unit: "{row}",
    description: "Rows newly inserted into k8s_events by committed transactions (one NOTIFY each).",
    labels: ["cluster"],
    side: "handler",
    origin: "krateo",
  },
  dbInsertFailure: {
    name: "events_ingester.db.insert.failure",
    kind: "counter",
    unit: "{batch}",
    description: "Write transactions that stored nothing, by type (unavailable, fenced, error).",
    labels: ["type"],
    side: "handler",
    origin: "krateo",
  },

  // New in this design: handler.
  dbInsertDuplicates: {
    name: "events_ingester.db.insert.duplicates",
    kind: "counter",
    unit: "{row}",
    description:
      "Valid event lines whose (global_uid, resource_version) was already stored or repeated in the batch: retries, relists and failovers absorbed.",
    labels: ["cluster"],
    side: "handler",
    origin: "new",
  },
  commitLag: {
    name: "events_ingester.handler.commit_lag_seconds",
    kind: "histogram",
    unit: UNIT_SECONDS,
    description:
      "Time from an event version's own timestamp (the row's created_at) to the commit of its row. Replays after a restart or relist land in the top buckets.",
    labels: ["cluster"],
    side: "handler",
    origin: "new",
  },
  handlerRejectedLines: {
    name: "events_ingester.handler.rejected_lines",
    kind: "counter",
    unit: "{line}",
    description: "NDJSON lines refused with a line error, by code (handler/README.md, line codes).",
    labels: ["cluster", "code"],
    side: "handler",
    origin: "new",
  },
  handlerGapRecords: {
    name: "events_ingester.handler.gap_records",
    kind: "counter",
    unit: "{gap}",
    description:
      "Gap records stored: spans of events that may have expired unseen, by reason (for example WATCH_EXPIRED).",
    labels: ["cluster", "reason"],
    side: "handler",
    origin: "new",
  },
  handlerRequests: {
    name: "events_ingester.handler.requests",
    kind: "counter",
    unit: "{request}",
    description: "HTTP requests answered, by route (events, checkpoints, other) and status code.",
    labels: ["route", "status"],
    side: "handler",
    origin: "new",
  },
  handlerRequestDuration: {
    name: "events_ingester.handler.request_duration_seconds",
    kind: "histogram",
    unit: UNIT_SECONDS,
    description:
      "Time from a request's arrival at the app to its answer, by route and status; for POST /v1/events it includes reading the body and the write transaction.",
    labels: ["route", "status"],
    side: "handler",
    origin: "new",
  },
  handlerMemoryBudgetUsed: {
    name: "events_ingester.handler.memory_budget_used_bytes",
    kind: "gauge",
    unit: UNIT_BYTES,
    description:
      "Bytes the POST /v1/events requests in flight hold against REQUESTS_MEMORY_BYTES_MAX; a request that would need more than is left is answered 503 OVER_MEMORY_BUDGET.",
    labels: [],
    side: "handler",
    origin: "new",
  },

  // New in this design: relay.
  relayWatchReconnects: {
    name: "events_ingester.relay.watch_reconnects",
    kind: "counter",
    unit: "{reconnect}",
    description: "Watch requests opened again after the previous one ended or failed.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayRelists: {
    name: "events_ingester.relay.relists",
    kind: "counter",
    unit: "{list}",
    description: "Full lists of events: a cold start without a resume point, or the watch answered 410 Gone.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayBookmarks: {
    name: "events_ingester.relay.bookmarks",
    kind: "counter",
    unit: "{bookmark}",
    description: "BOOKMARK watch events received (they advance the resume point without an event).",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayQueueBytes: {
    name: "events_ingester.relay.queue_bytes",
    kind: "gauge",
    unit: UNIT_BYTES,
    description: "Bytes of records waiting to be sent; at QUEUE_BYTES_MAX the watch is paused.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayLeader: {
    name: "events_ingester.relay.leader",
    kind: "gauge",
    unit: "",
    description: "1 while this relay holds the Lease (and watches), else 0.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayBatchRecords: {
    name: "events_ingester.relay.batch_records",
    kind: "histogram",
    unit: UNIT_RECORDS,
    description: "Records in one batch sent to the handler.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relaySendDuration: {
    name: "events_ingester.relay.send_duration_seconds",
    kind: "histogram",
    unit: UNIT_SECONDS,
    description: "Time to deliver one batch, from the first attempt to the final answer, retries included.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relaySendRetries: {
    name: "events_ingester.relay.send_retries",
    kind: "counter",
    unit: "{retry}",
    description: "Send attempts that failed with a 5xx, a 429 or a network error and were retried, by reason.",
    labels: ["reason"],
    side: "relay",
    origin: "new",
  },
  relayRejectedLines: {
    name: "events_ingester.relay.rejected_lines",
    kind: "counter",
    unit: "{record}",
    description:
      "Records the handler refused, by code (line codes from a 200 answer, problem codes such as FENCED from a 4xx).",
    labels: ["code"],
    side: "relay",
    origin: "new",
  },
  relayEnrichmentCacheHits: {
    name: "events_ingester.relay.enrichment_cache_hits",
    kind: "counter",
    unit: "{lookup}",
    description: "Involved-object lookups answered from the enrichment cache.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayEnrichmentCacheMisses: {
    name: "events_ingester.relay.enrichment_cache_misses",
    kind: "counter",
    unit: "{lookup}",
    description: "Involved-object lookups that went to the API server.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayEnrichmentFailures: {
    name: "events_ingester.relay.enrichment_failures",
    kind: "counter",
    unit: "{lookup}",
    description:
      "Lookups that failed, by code (for example FORBIDDEN, NOT_FOUND); the event is still sent, with the code in its enrichment.",
    labels: ["code"],
    side: "relay",
    origin: "new",
  },
  relayGapRecords: {
    name: "events_ingester.relay.gap_records",
    kind: "counter",
    unit: "{gap}",
    description: "Gap records sent: the relay relisted and events between two versions may have expired unseen.",
    labels: [],
    side: "relay",
    origin: "new",
  },
  relayVersionsReplaced: {
    name: "events_ingester.relay.versions_replaced",
    kind: "counter",
    unit: "{version}",
    description:
      "Storm control: queued, unsent event versions replaced by a newer version of the same event while the queue was backed up; the newer record carries the count in replacedVersions.",
    labels: [],
    side: "relay",
    origin: "new",
  },
} as const satisfies Record<string, MetricSpec>;

/** Every metric of the catalogue, in catalogue order. */
export const ALL_METRICS: readonly MetricSpec[] = Object.values(METRICS);

/**
 * The name a metric has in the Prometheus exposition (`/metrics`): characters other than letters, digits and `_`
 * become `_`, runs of `_` collapse, and counters end in `_total`. Histograms add `_bucket`, `_sum` and `_count` to it.
 */
export function toPrometheusName(spec: Pick<MetricSpec, "name" | "kind">): string {
  const base = spec.name.replace(/[^A-Za-z0-9_]/g, "_").replace(/_{2,}/g, "_");
  return spec.kind === "counter" && !base.endsWith("_total") ? `${base}_total` : base;
}

/**
 * The options to create a metric's instrument with (`meter.createCounter(spec.name, toInstrumentOptions(spec))`).
 * The unit must be passed: histogram buckets are chosen by it.
 */
export function toInstrumentOptions(spec: Pick<MetricSpec, "description" | "unit">): {
  description: string;
  unit: string;
} {
  return { description: spec.description, unit: spec.unit };
}
