/**
 * Counters, histograms and gauges with their Prometheus text, without the OpenTelemetry SDK: what a process that does
 * not push OTLP needs for its `/metrics` route. The SDK with its exporters costs about 8 MiB resident before it records
 * anything, a sixth of an idle relay; the relay loads `telemetry.ts` (the SDK) only when OTLP is enabled.
 *
 * The text is byte for byte what `telemetry.ts` renders (the SDK's cumulative aggregation and
 * `PrometheusSerializer`) for the same recordings: the same families in creation order, series in first-seen order,
 * the same number formatting, label escaping, dropped values (negative counter or histogram values, non-numbers) and
 * the same 2,000-series limit per instrument. A sum is kept the way the SDK keeps it: what was recorded since the
 * last render is summed apart, then added to the total, so that float rounding matches too.
 */
import type { Counter, Gauge, Histogram, ObservableCallback, ObservableGauge } from "@opentelemetry/api";
import { BYTES_BUCKETS, DEFAULT_BUCKETS, RECORDS_BUCKETS, SECONDS_BUCKETS } from "./buckets.ts";
import { UNIT_BYTES, UNIT_RECORDS, UNIT_SECONDS } from "./metric_names.ts";
import { describeError, type Logger } from "./log.ts";
import { toPrometheusText } from "./prometheus_text.ts";

/** Label values of one series, as passed to `add`, `record` or `observe`. */
export type MetricAttributes = Record<string, unknown>;

/** What an instrument is created with (the part of OpenTelemetry's MetricOptions both meters honour). */
export interface InstrumentOptions {
  description?: string;
  unit?: string;
}

/** The instruments a component creates; both this meter and the SDK's `Meter` provide them. */
export interface MetricsMeter {
  createCounter(name: string, options?: InstrumentOptions): Counter;
  createHistogram(name: string, options?: InstrumentOptions): Histogram;
  createGauge(name: string, options?: InstrumentOptions): Gauge;
  createObservableGauge(name: string, options?: InstrumentOptions): ObservableGauge;
}

/** One series' aggregate, as the renderer reads it. */
export type SeriesValue = number | { count: number; sum: number; counts: number[] };

/** One instrument's series for the renderer. */
export interface InstrumentData {
  name: string;
  description: string;
  unit: string;
  kind: "counter" | "histogram" | "gauge";
  boundaries: readonly number[];
  series: { attributes: MetricAttributes; value: SeriesValue }[];
}

/** Series one instrument keeps per render interval before new label sets go to the overflow series (as the SDK). */
const SERIES_MAX = 2_000 - 1;
const OVERFLOW_ATTRIBUTES: MetricAttributes = { "otel.metric.overflow": true };

/** The SDK's identity of a label set: sorted keys with their values. */
function toSeriesKey(attributes: MetricAttributes): string {
  const keys = Object.keys(attributes);
  if (keys.length === 0) return "";
  return JSON.stringify(keys.sort().map((key) => [key, attributes[key]]));
}

/** Label sets in first-seen order with one aggregate each. */
class SeriesMap<T> {
  readonly entries = new Map<string, { attributes: MetricAttributes; value: T }>();

  /** The entry of `attributes`, created with `create()`; the overflow entry once `limited` and full. */
  upsert(attributes: MetricAttributes, create: () => T, limited: boolean): { value: T } {
    let key = toSeriesKey(attributes);
    let entry = this.entries.get(key);
    if (entry !== undefined) return entry;
    if (limited && this.entries.size >= SERIES_MAX) {
      key = toSeriesKey(OVERFLOW_ATTRIBUTES);
      attributes = OVERFLOW_ATTRIBUTES;
      entry = this.entries.get(key);
      if (entry !== undefined) return entry;
    }
    entry = { attributes, value: create() };
    this.entries.set(key, entry);
    return entry;
  }
}

type HistogramValue = { count: number; sum: number; counts: number[] };

/** The bucket index of `value`: the first upper bound not below it (the SDK's binary search). */
function toBucketIndex(boundaries: readonly number[], value: number): number {
  let low = 0, high = boundaries.length - 1, found = boundaries.length;
  while (high >= low) {
    const middle = low + Math.trunc((high - low) / 2);
    if (boundaries[middle]! < value) low = middle + 1;
    else {
      found = middle;
      high = middle - 1;
    }
  }
  return found;
}

/** The histogram buckets the SDK's views give an instrument of `unit`. */
function toBoundaries(unit: string): readonly number[] {
  if (unit === UNIT_SECONDS) return SECONDS_BUCKETS;
  if (unit === UNIT_RECORDS) return RECORDS_BUCKETS;
  if (unit === UNIT_BYTES) return BYTES_BUCKETS;
  return DEFAULT_BUCKETS;
}

/** A synchronous instrument: values since the last render apart (`pending`), merged into `total` at each render. */
class SyncInstrument<T> {
  readonly #pending = new SeriesMap<T>();
  readonly #total = new SeriesMap<T>();

  constructor(
    readonly data: Omit<InstrumentData, "series">,
    private readonly aggregate: {
      create(): T;
      record(into: T, value: number): T;
      merge(total: T, delta: T): T;
    },
  ) {}

  record(value: number, attributes: MetricAttributes = {}): void {
    const entry = this.#pending.upsert(attributes, () => this.aggregate.create(), true);
    entry.value = this.aggregate.record(entry.value, value);
  }

  collect(): InstrumentData["series"] {
    for (const [key, delta] of this.#pending.entries) {
      const total = this.#total.entries.get(key);
      if (total === undefined) this.#total.entries.set(key, delta);
      else total.value = this.aggregate.merge(total.value, delta.value);
    }
    this.#pending.entries.clear();
    return [...this.#total.entries.values()] as InstrumentData["series"];
  }
}

const SUM = {
  create: () => 0,
  record: (into: number, value: number) => into + value,
  merge: (total: number, delta: number) => total + delta,
};
const LAST_VALUE = { create: () => 0, record: (_: number, value: number) => value, merge: (_: number, d: number) => d };

function histogramAggregate(boundaries: readonly number[]) {
  return {
    create: (): HistogramValue => ({ count: 0, sum: 0, counts: new Array(boundaries.length + 1).fill(0) }),
    record(into: HistogramValue, value: number): HistogramValue {
      if (Number.isNaN(value)) return into; // the SDK keeps the series but counts nothing
      into.count += 1;
      into.sum += value;
      into.counts[toBucketIndex(boundaries, value)]! += 1;
      return into;
    },
    merge: (total: HistogramValue, delta: HistogramValue): HistogramValue => ({
      count: total.count + delta.count,
      sum: total.sum + delta.sum,
      counts: total.counts.map((count, index) => count + delta.counts[index]!),
    }),
  };
}

/** An observable gauge: its callbacks run at each render; a label set keeps its last observed value. */
class ObservableInstrument implements ObservableGauge {
  readonly callbacks: ObservableCallback[] = [];
  readonly #total = new SeriesMap<number>();

  constructor(readonly data: Omit<InstrumentData, "series">) {}

  addCallback(callback: ObservableCallback): void {
    if (!this.callbacks.includes(callback)) this.callbacks.push(callback);
  }

  removeCallback(callback: ObservableCallback): void {
    const index = this.callbacks.indexOf(callback);
    if (index >= 0) this.callbacks.splice(index, 1);
  }

  /** Stores one callback's observations (its last value per label set, in first-observed order). */
  store(observed: SeriesMap<number>): void {
    for (const { attributes, value } of observed.entries.values()) {
      this.#total.upsert(attributes, () => value, true).value = value;
    }
  }

  collect(): InstrumentData["series"] {
    return [...this.#total.entries.values()];
  }
}

/** A meter whose instruments render as Prometheus text; see the file comment. */
export class PrometheusMeter implements MetricsMeter {
  readonly #instruments: (SyncInstrument<unknown> | ObservableInstrument)[] = [];

  createCounter(name: string, options?: InstrumentOptions): Counter {
    const instrument = this.#addSync(name, options, "counter", SUM);
    return { add: (value, attributes) => isRecordable(value, false) && instrument.record(value, attributes) };
  }

  createHistogram(name: string, options?: InstrumentOptions): Histogram {
    const boundaries = toBoundaries(options?.unit ?? "");
    const instrument = this.#addSync(name, options, "histogram", histogramAggregate(boundaries), boundaries);
    return { record: (value, attributes) => isRecordable(value, false) && instrument.record(value, attributes) };
  }

  createGauge(name: string, options?: InstrumentOptions): Gauge {
    const instrument = this.#addSync(name, options, "gauge", LAST_VALUE);
    return { record: (value, attributes) => isRecordable(value, true) && instrument.record(value, attributes) };
  }

  createObservableGauge(name: string, options?: InstrumentOptions): ObservableGauge {
    const instrument = new ObservableInstrument(toInstrumentData(name, options, "gauge", []));
    this.#instruments.push(instrument);
    return instrument;
  }

  /** Runs the observable callbacks, then returns every instrument's series; the errors are the failed callbacks'. */
  async collect(): Promise<{ instruments: InstrumentData[]; errors: unknown[] }> {
    const errors: unknown[] = [];
    const observers = this.#instruments.filter((i): i is ObservableInstrument => i instanceof ObservableInstrument);
    const runs = observers.flatMap((instrument) =>
      instrument.callbacks.map(async (callback) => {
        const observed = new SeriesMap<number>();
        await callback({
          observe(value, attributes = {}) {
            if (typeof value === "number") observed.upsert(attributes, () => value, false).value = value;
          },
        });
        instrument.store(observed);
      })
    );
    for (const outcome of await Promise.allSettled(runs)) {
      if (outcome.status === "rejected") errors.push(outcome.reason);
    }
    const instruments = this.#instruments.map((instrument) => ({ ...instrument.data, series: instrument.collect() }));
    // The SDK lists the instruments its histogram views matched first, then the others, each in creation order.
    const isViewed = (data: InstrumentData) => data.kind === "histogram" && data.boundaries !== DEFAULT_BUCKETS;
    return { instruments: [...instruments.filter(isViewed), ...instruments.filter((data) => !isViewed(data))], errors };
  }

  #addSync<T>(
    name: string,
    options: InstrumentOptions | undefined,
    kind: InstrumentData["kind"],
    aggregate: ConstructorParameters<typeof SyncInstrument<T>>[1],
    boundaries: readonly number[] = [],
  ): SyncInstrument<T> {
    const instrument = new SyncInstrument(toInstrumentData(name, options, kind, boundaries), aggregate);
    this.#instruments.push(instrument as SyncInstrument<unknown>);
    return instrument;
  }
}

function toInstrumentData(
  name: string,
  options: InstrumentOptions | undefined,
  kind: InstrumentData["kind"],
  boundaries: readonly number[],
): Omit<InstrumentData, "series"> {
  return { name, description: options?.description ?? "", unit: options?.unit ?? "", kind, boundaries };
}

/** What the SDK records: numbers only, and no negative value for a counter or histogram (a warning there). */
function isRecordable(value: unknown, isNegativeAllowed: boolean): value is number {
  if (!isNegativeAllowed && (value as number) < 0) return false;
  return typeof value === "number";
}

/** The part of `Telemetry` a process that serves `/metrics` without OTLP has. */
export interface PrometheusTelemetry {
  meter: MetricsMeter;
  /** The current value of every instrument as Prometheus text exposition (serve with PROMETHEUS_CONTENT_TYPE). */
  renderPrometheus(): Promise<string>;
  /** Nothing to push or stop; resolves at once (the same contract as `Telemetry.shutdown`). */
  shutdown(): Promise<void>;
}

/**
 * A PrometheusMeter with the resource of `telemetry.ts` (`service.name`, `service.instance.id`, a random UUID when
 * omitted) in `target_info`. Failed observable callbacks are logged as warnings (code METRIC_COLLECT_FAILED), as the
 * SDK path logs them.
 */
export function createPrometheusTelemetry(
  options: { serviceName: string; serviceInstanceId?: string; logger?: Logger },
): PrometheusTelemetry {
  const meter = new PrometheusMeter();
  const resource = {
    "service.name": options.serviceName,
    "service.instance.id": options.serviceInstanceId ?? crypto.randomUUID(),
  };
  return {
    meter,
    async renderPrometheus() {
      const { instruments, errors } = await meter.collect();
      for (const error of errors) {
        // An observable callback failed; the other instruments are still exported, so the scrape goes on.
        options.logger?.warn("Cannot collect a metric", { code: "METRIC_COLLECT_FAILED", error: describeError(error) });
      }
      return toPrometheusText(resource, instruments);
    },
    shutdown: () => Promise.resolve(),
  };
}
