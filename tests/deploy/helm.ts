/**
 * Test support: runs the real `helm` (v4, built from source by tests/tools/build_tools.sh into
 * $HOME/.cache/events-ingester/tools/helm-<version>/helm, or named by HELM) on deploy/helm/events-ingester.
 * Without helm the chart tests are skipped with a message, except in CI (CI=true), where they fail.
 */
import { type KubeObject, parseManifests, REPO_ROOT } from "./render.ts";

/** The chart folder, relative to the repository root. */
export const CHART = "deploy/helm/events-ingester";

/** The newest helm in the tools cache, or null. */
function findCachedHelm(): string | null {
  const home = Deno.env.get("HOME");
  if (!home) return null;
  const tools = Deno.env.get("EVENTS_INGESTER_TOOLS_DIR") ?? `${home}/.cache/events-ingester/tools`;
  let versions: string[];
  try {
    versions = [...Deno.readDirSync(tools)].filter((e) => e.isDirectory && /^helm-v\d/.test(e.name)).map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const toNumbers = (name: string) => name.slice("helm-v".length).split(/[.-]/).map(Number);
  versions.sort((a, b) => compareNumbers(toNumbers(a), toNumbers(b)));
  for (const version of versions.reverse()) {
    const path = `${tools}/${version}/helm`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return null;
}

/** Compares version numbers part by part. */
function compareNumbers(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** helm to run: HELM when set, else the tools cache; null when there is none. */
export function findHelm(): string | null {
  const named = Deno.env.get("HELM");
  if (named) return named;
  return findCachedHelm();
}

/** helm for the tests, or null (then the chart tests are skipped, or fail in CI). */
export const HELM: string | null = findHelm();

/** True when the chart tests must not run: no helm, outside CI. */
export const IS_HELM_SKIPPED = HELM === null && Deno.env.get("CI") !== "true";

if (HELM === null) {
  console.log(
    IS_HELM_SKIPPED
      ? "helm not found (set HELM, or run tests/tools/build_tools.sh): the Helm chart tests are skipped"
      : "helm not found and CI=true: the Helm chart tests fail (run tests/tools/build_tools.sh before them)",
  );
}

/** The helm binary, or an error that says how to get one (in CI, where the tests run without it). */
export function requireHelm(): string {
  if (HELM === null) {
    throw new Error("Cannot run the Helm chart tests: no helm (set HELM, or run tests/tools/build_tools.sh)");
  }
  return HELM;
}

/** What one helm command did. */
export interface HelmResult {
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Runs `helm <args>` in the repository root; never throws for a failed command. */
export async function runHelm(args: string[]): Promise<HelmResult> {
  const output = await new Deno.Command(requireHelm(), {
    args,
    cwd: REPO_ROOT,
    env: { HELM_CACHE_HOME: "/tmp/events-ingester-helm/cache", HELM_CONFIG_HOME: "/tmp/events-ingester-helm/config" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { success: output.success, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** Options of one render: values files (relative to the chart), `--set` pairs, release name and namespace. */
export interface ChartOptions {
  valuesFiles?: string[];
  set?: string[];
  release?: string;
  namespace?: string;
}

/** The helm arguments that name the chart, the release and the values. */
function toChartArgs(options: ChartOptions): string[] {
  const args = [options.release ?? "events-ingester", CHART, "-n", options.namespace ?? "events-ingester"];
  for (const file of options.valuesFiles ?? []) args.push("-f", `${CHART}/${file}`);
  for (const pair of options.set ?? []) args.push("--set", pair);
  return args;
}

/** `helm template` of the chart. */
export function templateChart(options: ChartOptions = {}): Promise<HelmResult> {
  return runHelm(["template", ...toChartArgs(options)]);
}

/** `helm template` of the chart, parsed; throws with helm's message when it refuses. */
export async function renderChart(options: ChartOptions = {}): Promise<KubeObject[]> {
  const result = await templateChart(options);
  if (!result.success) throw new Error(`Cannot render ${CHART}: ${result.stderr.trim()}`);
  return parseManifests(result.stdout);
}

/** The NOTES helm prints after an install (`helm install --dry-run=client`, which needs no cluster). */
export async function renderNotes(options: ChartOptions = {}): Promise<string> {
  const result = await runHelm(["install", ...toChartArgs(options), "--dry-run=client"]);
  if (!result.success) throw new Error(`Cannot render the notes of ${CHART}: ${result.stderr.trim()}`);
  const at = result.stdout.indexOf("NOTES:\n");
  if (at === -1) throw new Error("Cannot find NOTES in the output of helm install --dry-run=client");
  return result.stdout.slice(at + "NOTES:\n".length);
}

/** The example values files below the chart (`examples/<name>.yaml`), sorted. */
export function listExampleValues(): string[] {
  return [...Deno.readDirSync(`${REPO_ROOT}${CHART}/examples`)].filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => `examples/${e.name}`).sort();
}
