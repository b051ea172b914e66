/**
 * What a relay loads at start, before it knows whether it will lead: the static import graph of relay/main.ts. A
 * standby only renews or reads the Lease and serves its probes, so the leader's data path, the OpenTelemetry SDK and
 * every npm package and Node built-in (each loads Node's compatibility layer) must stay out of it and be loaded by
 * dynamic `import()` where they are needed; they must still be reachable, so the image caches them.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).href;

interface GraphModule {
  specifier: string;
  dependencies?: { specifier: string; isDynamic?: boolean; code?: { specifier: string } }[];
}

/** The module graph of relay/main.ts as `deno info` resolves it (npm packages as `npm:` specifiers). */
async function readGraph(): Promise<Map<string, GraphModule>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "relay/main.ts"],
    cwd: new URL(ROOT).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: GraphModule[] };
  return new Map(graph.modules.map((module) => [module.specifier, module]));
}

/** The specifiers reachable from relay/main.ts, following dynamic imports too or not. */
function reach(graph: Map<string, GraphModule>, options: { isDynamicFollowed: boolean }): Set<string> {
  const seen = new Set<string>();
  const pending = [`${ROOT}relay/main.ts`];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dependency of graph.get(specifier)?.dependencies ?? []) {
      // A dependency without `code` is imported for its types only and loads nothing.
      if (dependency.code === undefined || (dependency.isDynamic && !options.isDynamicFollowed)) continue;
      pending.push(dependency.code.specifier);
    }
  }
  return seen;
}

/** Leader-only and OTLP-only modules: loaded when leadership is won or OTLP is enabled. */
const LATER = [
  "relay/leader_term.ts",
  "relay/send/handler_client.ts",
  "relay/send/gzip_ndjson.ts",
  "relay/pipeline/enricher.ts",
  "relay/pipeline/event_watcher.ts",
  "relay/pipeline/batcher.ts",
  "relay/kube/watch_reader.ts",
  "relay/kube/resource_discovery.ts",
  "shared/telemetry/telemetry.ts",
];

Deno.test("relay/main.ts loads no npm package, no Node built-in and no leader-only module at start", async () => {
  const graph = await readGraph();
  const atStart = [...reach(graph, { isDynamicFollowed: false })];
  assert.deepEqual(atStart.filter((specifier) => !specifier.startsWith(ROOT)), []);
  const local = atStart.map((specifier) => specifier.slice(ROOT.length));
  assert.deepEqual(local.filter((path) => !/^(relay|shared)\//.test(path)), []);
  assert.deepEqual(LATER.filter((path) => local.includes(path)), []);
});

Deno.test("relay/main.ts still reaches the leader's modules, the SDK and the kubeconfig packages by import()", async () => {
  const graph = await readGraph();
  const all = reach(graph, { isDynamicFollowed: true });
  assert.deepEqual(LATER.filter((path) => !all.has(`${ROOT}${path}`)), []);
  const packages = [...all].filter((specifier) => specifier.startsWith("npm:")).map((s) => s.replace(/@[^@/]+$/, ""));
  for (const name of ["npm:js-yaml", "npm:@opentelemetry/sdk-metrics", "npm:@kubernetes/client-node"]) {
    assert.ok(
      packages.some((specifier) => specifier.startsWith(name)),
      `${name} not reachable: ${packages.join(", ")}`,
    );
  }
});
