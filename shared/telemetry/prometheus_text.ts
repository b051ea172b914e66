/**
 * Prometheus text exposition (format 0.0.4) of `prometheus_meter.ts`'s instruments, written to match what the
 * OpenTelemetry `PrometheusSerializer` writes as `telemetry.ts` configures it (no scope labels, no timestamps,
 * `target_info` from the resource first): same names, metadata lines, sample order and escaping.
 */
import type { InstrumentData, MetricAttributes } from "./prometheus_meter.ts";

/** Content-Type of `renderPrometheus()` output (Prometheus text exposition format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What the serializer writes when no instrument has a series. */
const NO_METRICS = "# no registered metrics";

type PrometheusType = "counter" | "histogram" | "gauge";

/** One Prometheus metric family: instruments whose names map to one Prometheus name. */
interface Family {
  type: PrometheusType;
  help: string;
  unit: string;
  instruments: InstrumentData[];
  /** false once two instruments of different types claimed the name: the family is dropped, as the SDK does. */
  isValid: boolean;
}

function escapeText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(value: unknown = ""): string {
  return escapeText(typeof value === "string" ? value : JSON.stringify(value)).replace(/"/g, '\\"');
}

function toSanitizedName(name: string): string {
  return name.replace(/[^a-z0-9_]/gi, "_").replace(/_{2,}/g, "_");
}

/** The Prometheus name of an instrument; undefined for a name that sanitizes to nothing (the SDK skips it). */
function toFamilyName(instrument: InstrumentData): string | undefined {
  let name = toSanitizedName(escapeText(instrument.name));
  if (name === "" || name === "_") return undefined;
  if (name[0]! >= "0" && name[0]! <= "9") name = `_${name}`;
  if (instrument.kind === "counter" && !name.endsWith("_total")) name += "_total";
  return name;
}

function toValueText(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return `${value}`;
}

function toSampleLine(name: string, attributes: MetricAttributes, value: number, le?: string): string {
  const labels = Object.entries(attributes).map(([key, label]) =>
    `${toSanitizedName(key)}="${escapeLabelValue(label)}"`
  );
  if (le !== undefined) labels.push(`le="${le}"`);
  return `${name}${labels.length > 0 ? `{${labels.join(",")}}` : ""} ${toValueText(value)}\n`;
}

function toSamples(name: string, instrument: InstrumentData): string {
  let text = "";
  for (const { attributes, value } of instrument.series) {
    if (typeof value === "number") {
      text += toSampleLine(name, attributes, value);
      continue;
    }
    text += toSampleLine(`${name}_count`, attributes, value.count);
    text += toSampleLine(`${name}_sum`, attributes, value.sum);
    let cumulative = 0;
    value.counts.forEach((count, index) => {
      cumulative += count;
      const bound = instrument.boundaries[index];
      text += toSampleLine(`${name}_bucket`, attributes, cumulative, bound === undefined ? "+Inf" : String(bound));
    });
  }
  return text;
}

/** The family of the resource, first; an instrument named `target_info` joins it. */
const TARGET_INFO = "target_info";

/** Groups the instruments that have series by Prometheus name, in creation order, after `target_info`. */
function toFamilies(instruments: InstrumentData[]): Map<string, Family> {
  const families = new Map<string, Family>([
    [TARGET_INFO, { type: "gauge", help: "Target metadata", unit: "", instruments: [], isValid: true }],
  ]);
  for (const instrument of instruments) {
    if (instrument.series.length === 0) continue; // the SDK reports no metric without a data point
    const name = toFamilyName(instrument);
    if (name === undefined) continue;
    const family = families.get(name);
    if (family === undefined) {
      const { description: help, unit } = instrument;
      families.set(name, { type: instrument.kind, help, unit, instruments: [instrument], isValid: true });
    } else if (family.isValid && family.type !== instrument.kind) {
      family.isValid = false;
      family.instruments = [];
    } else if (family.isValid) {
      family.instruments.push(instrument);
      family.help ||= instrument.description;
      family.unit ||= instrument.unit;
    }
  }
  return families;
}

/** The exposition of `instruments`, preceded by `target_info` carrying `resource`. */
export function toPrometheusText(resource: MetricAttributes, instruments: InstrumentData[]): string {
  let head = "";
  let body = "";
  for (const [name, family] of toFamilies(instruments)) {
    if (!family.isValid) continue;
    const unit = family.unit ? `\n# UNIT ${name} ${escapeText(family.unit)}` : "";
    const metadata = `# HELP ${name} ${
      escapeText(family.help || "description missing")
    }${unit}\n# TYPE ${name} ${family.type}\n`;
    let isFirst = true;
    if (name === TARGET_INFO) {
      head = metadata + toSampleLine(TARGET_INFO, resource, 1);
      isFirst = false;
    }
    for (const instrument of family.instruments) {
      const text = ((isFirst ? metadata : "") + toSamples(name, instrument)).trim();
      if (text !== "") {
        body += text + "\n";
        isFirst = false;
      }
    }
  }
  return head + (body === "" ? NO_METRICS : body);
}
