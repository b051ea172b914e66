import assert from "node:assert/strict";
import { ALL_METRICS, type MetricSpec, toPrometheusName } from "../../../shared/telemetry/metric_names.ts";

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource: { uid: string } }[];
}

const dashboard = JSON.parse(
  await Deno.readTextFile(new URL("../../../deploy/observability/grafana-dashboard.json", import.meta.url)),
) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };

const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((target) => target.expr);

/** Exposition names of the catalogue, with the series names a histogram adds. */
function seriesOf(spec: MetricSpec): string[] {
  const name = toPrometheusName(spec);
  return spec.kind === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

Deno.test("the Grafana dashboard queries only metric names the components expose", () => {
  const known = new Set(ALL_METRICS.flatMap(seriesOf));
  const used = new Set(exprs.flatMap((expr) => expr.match(/events_ingester_[a-z0-9_]+/g) ?? []));
  assert.ok(used.size > 0);
  assert.deepEqual([...used].filter((name) => !known.has(name)), []);
});

Deno.test("the Grafana dashboard shows every metric of the catalogue", () => {
  const text = exprs.join("\n");
  const missing = ALL_METRICS.filter((spec) => !seriesOf(spec).some((series) => text.includes(series)));
  assert.deepEqual(missing.map((spec) => spec.name), []);
});

Deno.test("the Grafana dashboard filters by $cluster only on metrics that carry a cluster label", () => {
  const byName = new Map(ALL_METRICS.flatMap((spec) => seriesOf(spec).map((series) => [series, spec] as const)));
  const filtered = exprs.flatMap((expr) => [...expr.matchAll(/(events_ingester_[a-z0-9_]+)\{cluster=~"\$cluster"\}/g)]);
  assert.ok(filtered.length > 0);
  for (const match of filtered) {
    const series = match[1] ?? "";
    const labels: readonly string[] = byName.get(series)?.labels ?? [];
    assert.ok(labels.includes("cluster"), series);
  }
});

Deno.test("the Grafana dashboard panels have unique ids, fit the 24-column grid and use the datasource variable", () => {
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(dashboard.uid, "events-ingester");
  assert.deepEqual(dashboard.templating.list.map((variable) => variable.name), ["datasource", "cluster"]);
  for (const panel of dashboard.panels) {
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, panel.title);
    if (panel.type === "row") continue;
    assert.equal(panel.datasource?.uid, "${datasource}", panel.title);
    for (const target of panel.targets ?? []) assert.equal(target.datasource.uid, "${datasource}", panel.title);
  }
});
