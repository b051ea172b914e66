/**
 * deploy/helm/events-ingester: `helm lint --strict` passes for the defaults and every example; every example renders
 * objects that pass the Kubernetes API schemas and settings the real config loaders read and accept; the chart
 * renders the same objects as the kustomize overlays for the same choices; values.schema.json and the templates
 * refuse bad values with a message naming the value.
 */
import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { isDeepStrictEqual } from "node:util";
import { HANDLER_DEFAULTS, loadHandlerConfig } from "../../handler/config.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { OTLP_ENV_NAMES } from "../../shared/telemetry/telemetry.ts";
import { recordReads } from "../support/env_reads.ts";
import { CHART, IS_HELM_SKIPPED, listExampleValues, renderChart, renderNotes, runHelm, templateChart } from "./helm.ts";
import { findSchemaProblems } from "./kube_schema.ts";
import { findObject, KUBECTL, type KubeObject, renderKustomization, REPO_ROOT } from "./render.ts";
import { createSecretStep, listComponents } from "./secret_step.ts";
import { findComponent, materializeMounts, resolveEnv, resolvePort } from "./workloads.ts";

const ignore = IS_HELM_SKIPPED;

/** Labels only Helm adds (release bookkeeping), removed from every label map and selector before comparing. */
const HELM_ONLY_LABELS = ["app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"];
const HELM_ONLY_LABEL_PREFIXES = ["helm.sh/"];

/**
 * Helm's render as kustomize would have it: without the labels only Helm adds (in metadata.labels, pod template
 * labels, matchLabels and Service selectors, wherever they appear) and without the pod template annotation
 * `checksum/config` (which rolls the pods when the settings change, as kustomize's ConfigMap name hash does).
 */
function normaliseHelm(objects: KubeObject[]): KubeObject[] {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== "object" || node === null) return node;
    const result: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (["labels", "matchLabels", "selector"].includes(key) && isStringMap(value)) {
        result[key] = Object.fromEntries(
          Object.entries(value).filter(([label]) =>
            !HELM_ONLY_LABELS.includes(label) && !HELM_ONLY_LABEL_PREFIXES.some((prefix) => label.startsWith(prefix))
          ),
        );
      } else if (key === "annotations" && isStringMap(value)) {
        result[key] = Object.fromEntries(Object.entries(value).filter(([name]) => name !== "checksum/config"));
      } else result[key] = strip(value);
    }
    return result;
  };
  return sortObjects(objects.map((object) => strip(object) as KubeObject));
}

/**
 * kustomize's render as the chart has it: no Namespace object (a chart installs into an existing namespace, made
 * by `--create-namespace` or its owner, who also sets its Pod Security labels), ConfigMap names without
 * configMapGenerator's hash suffix (in the ConfigMaps and in every reference to them), and no `spec.replicas` on the
 * handler Deployment (the chart leaves the count to the HorizontalPodAutoscaler, which both install).
 */
function normaliseKustomize(objects: KubeObject[]): KubeObject[] {
  const hashed = new Map<string, string>();
  for (const object of objects.filter((o) => o.kind === "ConfigMap")) {
    const name = object.metadata.name.replace(/-[a-z0-9]{10}$/, "");
    hashed.set(object.metadata.name, name);
  }
  const rename = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rename);
    if (typeof node === "string") return hashed.get(node) ?? node;
    if (typeof node !== "object" || node === null) return node;
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, rename(value)]));
  };
  return sortObjects(
    objects.filter((o) => o.kind !== "Namespace").map((object) => {
      const renamed = rename(object) as KubeObject;
      const spec = renamed.spec as Record<string, unknown> | undefined;
      const isHandler = renamed.metadata.labels?.["app.kubernetes.io/component"] === "handler";
      if (renamed.kind === "Deployment" && isHandler && spec) delete spec.replicas;
      return renamed;
    }),
  );
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
}

function sortObjects(objects: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  return [...objects].sort((a, b) => key(a).localeCompare(key(b)));
}

/** JSON pointers where `a` and `b` differ, each with both values. */
function listDifferences(a: unknown, b: unknown, path: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  if (isRecord(a) && isRecord(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((key) => listDifferences(a[key], b[key], `${path}/${key}`));
  }
  return [`${path}: chart ${JSON.stringify(a)}, kustomize ${JSON.stringify(b)}`];
}

/** How the chart's objects differ from kustomize's, one line per object missing or per differing path. */
function describeDifferences(chart: KubeObject[], kustomize: KubeObject[]): string[] {
  const key = (o: KubeObject) => `${o.kind}/${o.metadata.name}`;
  const lines: string[] = [];
  for (const object of chart) {
    const twin = kustomize.find((o) => key(o) === key(object));
    if (!twin) lines.push(`${key(object)}: only in the chart`);
    else lines.push(...listDifferences(object, twin, key(object)));
  }
  for (const object of kustomize) {
    if (!chart.some((o) => key(o) === key(object))) lines.push(`${key(object)}: only in kustomize`);
  }
  return lines;
}

const EQUIVALENTS: [string, string[]][] = [
  ["deploy/overlays/single-cluster", ["examples/single-cluster.yaml"]],
  ["deploy/overlays/relay-deployment", ["examples/single-cluster.yaml", "examples/relay-deployment.yaml"]],
];

for (const [overlay, valuesFiles] of EQUIVALENTS) {
  Deno.test({
    name: `${CHART} with ${valuesFiles.join(" + ")} renders the objects of ${overlay}`,
    ignore: ignore || KUBECTL === null,
    fn: async () => {
      const chart = normaliseHelm(await renderChart({ valuesFiles }));
      const kustomize = normaliseKustomize(await renderKustomization(KUBECTL!, overlay));
      assert.deepEqual(describeDifferences(chart, kustomize), []);
      assert.deepEqual(chart, kustomize);
    },
  });
}

Deno.test({
  name: `${CHART}: helm lint --strict passes with the defaults and with every example values file`,
  ignore,
  fn: async () => {
    const examples = listExampleValues();
    assert.ok(examples.length >= 4, examples.join());
    for (const values of [[], ...examples.map((file) => ["-f", `${CHART}/${file}`])]) {
      const result = await runHelm(["lint", "--strict", CHART, ...values]);
      assert.ok(result.success, `${values.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  },
});

/** The handler's and the relay's environment from `objects` (with the Secret step's Secrets), through the loaders. */
async function loadConfigs(objects: KubeObject[]) {
  const rootDir = await Deno.makeTempDir({ prefix: "helm-env-" });
  try {
    const configs: { handler?: ReturnType<typeof loadHandlerConfig>; relay?: ReturnType<typeof loadRelayConfig> } = {};
    const unread: string[] = [];
    for (const component of listComponents(objects)) {
      const workload = findComponent(objects, component);
      const container = workload.pod.containers[0]!;
      const { values, sources } = resolveEnv(objects, container);
      const env = materializeMounts({ objects, pod: workload.pod, container, rootDir, values });
      const kubelet = { KUBERNETES_SERVICE_HOST: "10.96.0.1", HOSTNAME: "pod-0" };
      // The downward API's metadata.namespace, known only in a pod.
      const recorded = recordReads({ ...kubelet, ...env, POD_NAMESPACE: "events-ingester" });
      if (component === "handler") configs.handler = loadHandlerConfig(recorded.env);
      else configs.relay = loadRelayConfig(recorded.env, { hostname: "pod-0" });
      unread.push(
        ...Object.keys(sources).filter((name) => !recorded.names.has(name) && !OTLP_ENV_NAMES.includes(name)),
      );
    }
    return { configs, unread };
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
}

for (const example of ["(defaults)", ...listExampleValuesSafe()]) {
  const valuesFiles = example === "(defaults)" ? [] : [example];
  Deno.test({
    name: `${CHART} ${example}: every object passes the API schemas and the loaders read and accept every setting`,
    ignore: ignore || KUBECTL === null,
    fn: async () => {
      const objects = await renderChart({ valuesFiles });
      assert.deepEqual(objects.flatMap(findSchemaProblems), []);
      const components = listComponents(objects);
      const relayEnv = components.includes("relay")
        ? resolveEnv(objects, findComponent(objects, "relay").pod.containers[0]!).values
        : {};
      const step = await createSecretStep(KUBECTL!, {
        namespace: "events-ingester",
        components,
        clusters: [relayEnv.CLUSTER_NAME ?? "cluster-a"],
      });
      const { configs, unread } = await loadConfigs([...objects, ...step.secrets]);
      assert.deepEqual(unread, []);
      if (configs.handler) {
        assert.equal(configs.handler.port, resolvePort(findComponent(objects, "handler").pod.containers[0]!, "http"));
        assert.equal(configs.handler.tokenHashes.length, 1);
      }
      if (configs.relay) {
        assert.equal(
          configs.relay.healthPort,
          resolvePort(findComponent(objects, "relay").pod.containers[0]!, "health"),
        );
        const leaseRole = findObject(objects, "Role", "events-ingester-relay-lease");
        const named = (leaseRole.rules as { resourceNames?: string[] }[]).flatMap((rule) => rule.resourceNames ?? []);
        assert.deepEqual(named, [configs.relay.leaseName]);
        assert.ok("file" in configs.relay.handlerToken);
      }
    },
  });
}

/** The example files, or none when the chart folder is missing (the listing runs when this file loads). */
function listExampleValuesSafe(): string[] {
  try {
    return listExampleValues();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Names a loader reads that the chart sets itself or that a pod never has; each with where it comes from. */
const SET_BY_THE_CHART: Record<string, string> = {
  DATABASE_URL: "handler.database.urlKey (from the database Secret)",
  DB_USER: "handler.database.usernameKey (from the database Secret)",
  DB_PASS: "handler.database.passwordKey (from the database Secret)",
  CLUSTER_TOKEN_HASHES_FILE: "the mounted handler.tokenHashesSecret",
  CLUSTER_TOKEN_HASHES: "never: hashes come from the Secret file",
  HANDLER_TOKEN_FILE: "the mounted relay.tokenSecret",
  HANDLER_TOKEN: "never: a token only comes from a Secret",
  POD_NAME: "the downward API",
  POD_NAMESPACE: "the downward API",
  HOSTNAME: "the kubelet",
  KUBERNETES_SERVICE_HOST: "the kubelet",
  KUBECONFIG: "never: a pod uses its ServiceAccount",
  HOME: "never: a pod uses its ServiceAccount",
};

/** Every name `load` reads from the environments, upper-case names only. */
function readNames(load: (env: Record<string, string | undefined>) => unknown, envs: Record<string, string>[]) {
  const names = new Set<string>();
  for (const env of envs) {
    const recorded = recordReads(env);
    try {
      load(recorded.env);
    } catch {
      // A refused environment still shows which names were read: every problem is collected before the throw.
    }
    for (const name of recorded.names) if (/^[A-Z][A-Z0-9_]*$/.test(name)) names.add(name);
  }
  return [...names].sort();
}

const VALUES = yaml.load(Deno.readTextFileSync(`${REPO_ROOT}${CHART}/values.yaml`)) as {
  handler: { env: Record<string, unknown> };
  relay: { env: Record<string, unknown> };
};

Deno.test("values.yaml has a key under handler.env and relay.env for every variable each loader reads", () => {
  const handlerNames = readNames(loadHandlerConfig, [{ DATABASE_URL: "postgres://u@db/events" }, { DB_HOST: "db" }]);
  const relayNames = readNames((env) => loadRelayConfig(env), [{}, { KUBERNETES_SERVICE_HOST: "10.96.0.1" }]);
  assert.ok(handlerNames.length > 20 && relayNames.length > 20, `${handlerNames.length} / ${relayNames.length}`);
  const valueKeys = (env: Record<string, unknown>) =>
    Object.keys(env).filter((name) => !OTLP_ENV_NAMES.includes(name)).sort();
  assert.deepEqual(valueKeys(VALUES.handler.env), handlerNames.filter((name) => !(name in SET_BY_THE_CHART)));
  assert.deepEqual(valueKeys(VALUES.relay.env), relayNames.filter((name) => !(name in SET_BY_THE_CHART)));
});

/** The lines of the top-level key `name` of a YAML text, up to the next top-level key. */
function readSection(text: string, name: string): string {
  const rest = text.slice(text.indexOf(`\n${name}:\n`) + 1);
  const end = rest.search(/\n\S/);
  return end === -1 ? rest : rest.slice(0, end);
}

Deno.test("values.yaml leaves RETENTION_DAYS unset, so an adopted k8s_events keeps its partitions", () => {
  // Unset is the only value under which the handler decides by who created the table (30 days, or 0 when adopted);
  // any number written here would also drop another owner's partitions.
  assert.equal(HANDLER_DEFAULTS.retentionDays, null);
  assert.equal(VALUES.handler.env.RETENTION_DAYS, "");
});

Deno.test({
  name: `${CHART}: the handler's ConfigMap sets no RETENTION_DAYS by default, and the value when one is given`,
  ignore,
  fn: async () => {
    const settingsOf = async (set: string[]) => {
      const objects = await renderChart({ set });
      return resolveEnv(objects, { ...findComponent(objects, "handler").pod.containers[0]!, env: [] }).values;
    };
    const defaults = await settingsOf([]);
    assert.equal("RETENTION_DAYS" in defaults, false, JSON.stringify(defaults));
    const set = await settingsOf(["handler.env.RETENTION_DAYS=0", "handler.env.PARTITION_LOCK_TIMEOUT_S=12"]);
    assert.deepEqual([set.RETENTION_DAYS, set.PARTITION_LOCK_TIMEOUT_S], ["0", "12"]);
  },
});

Deno.test("values.yaml's commented defaults are the loaders' defaults: setting one changes nothing", () => {
  const text = Deno.readTextFileSync(`${REPO_ROOT}${CHART}/values.yaml`);
  const commented = (part: string) =>
    [...part.matchAll(/^ {4}([A-Z][A-Z0-9_]*): "" # (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
  const handlerBase = { DATABASE_URL: "postgres://u@db/events", CLUSTER_TOKEN_HASHES: `c=${"a".repeat(64)}` };
  const relayBase = { HANDLER_URL: "http://h:8080", HANDLER_TOKEN: "t", KUBERNETES_SERVICE_HOST: "10.96.0.1" };
  const handlerDefaults = commented(readSection(text, "handler"));
  const relayDefaults = commented(readSection(text, "relay"));
  assert.ok(
    handlerDefaults.length >= 12 && relayDefaults.length >= 12,
    `${handlerDefaults.length} / ${relayDefaults.length}`,
  );
  for (const [name, value] of handlerDefaults) {
    assert.deepEqual(loadHandlerConfig({ ...handlerBase, [name]: value }), loadHandlerConfig(handlerBase), name);
  }
  const relayOptions = { hostname: "pod-0" };
  for (const [name, value] of relayDefaults) {
    assert.deepEqual(
      loadRelayConfig({ ...relayBase, [name]: value }, relayOptions),
      loadRelayConfig(relayBase, relayOptions),
      name,
    );
  }
});

/** Values the chart must refuse, each with the words helm's refusal must contain. */
const REFUSED: { name: string; set: string[]; message: RegExp }[] = [
  {
    name: "a relay kind other than DaemonSet or Deployment",
    set: ["relay.kind=StatefulSet"],
    message: /\/relay\/kind/,
  },
  {
    name: "negative RETENTION_DAYS",
    set: ["handler.env.RETENTION_DAYS=-1"],
    message: /\/handler\/env\/RETENTION_DAYS/,
  },
  {
    name: "PARTITIONS_AHEAD_DAYS above 366",
    set: ["handler.env.PARTITIONS_AHEAD_DAYS=367"],
    message: /\/handler\/env\/PARTITIONS_AHEAD_DAYS/,
  },
  {
    name: "PARTITION_LOCK_TIMEOUT_S of 0",
    set: ["handler.env.PARTITION_LOCK_TIMEOUT_S=0"],
    message: /\/handler\/env\/PARTITION_LOCK_TIMEOUT_S/,
  },
  {
    name: "a token in the values",
    set: ["relay.env.HANDLER_TOKEN=abc"],
    message: /additional properties 'HANDLER_TOKEN'/,
  },
  {
    name: "token hashes as an extra variable",
    set: ["handler.extraEnv[0].name=CLUSTER_TOKEN_HASHES", "handler.extraEnv[0].value=c=abc"],
    message: /\/handler\/extraEnv\/0\/name/,
  },
  { name: "an unknown top-level value", set: ["replicas=3"], message: /additional properties 'replicas'/ },
  {
    name: "an image digest that is not sha256",
    set: ["handler.image.digest=md5:abc"],
    message: /\/handler\/image\/digest/,
  },
  { name: "a CLUSTER_NAME with a colon", set: ["relay.env.CLUSTER_NAME=a:b"], message: /\/relay\/env\/CLUSTER_NAME/ },
  {
    name: "a wildcard enrichment rule",
    set: [
      "relay.rbac.extraRules[0].apiGroups[0]=*",
      "relay.rbac.extraRules[0].resources[0]=*",
      "relay.rbac.extraRules[0].verbs[0]=get",
    ],
    message: /\/relay\/rbac\/extraRules\/0/,
  },
  { name: "neither component", set: ["handler.enabled=false", "relay.enabled=false"], message: /'anyOf' failed/ },
  {
    name: "a handler without a database",
    set: ["handler.env.DB_HOST="],
    message: /handler\.env\.DB_HOST: is empty and handler\.database\.urlKey is unset/,
  },
  {
    name: "both DB_HOST and a URL",
    set: ["handler.database.urlKey=uri"],
    message: /set one of them \(DATABASE_URL or DB_\*\), not both/,
  },
  {
    name: "a relay alone without HANDLER_URL",
    set: ["handler.enabled=false"],
    message: /relay\.env\.HANDLER_URL: is empty and handler\.enabled is false/,
  },
];

for (const refused of REFUSED) {
  Deno.test({
    name: `${CHART} refuses ${refused.name}`,
    ignore,
    fn: async () => {
      const result = await templateChart({ set: refused.set });
      assert.equal(result.success, false, result.stdout.slice(0, 200));
      assert.match(result.stderr, refused.message);
    },
  });
}

Deno.test({
  name: `${CHART}: helm lint --strict refuses a bad value too`,
  ignore,
  fn: async () => {
    const result = await runHelm([
      "lint",
      "--strict",
      CHART,
      "--set",
      "handler.autoscaling.targetCPUUtilizationPercentage=150",
    ]);
    assert.equal(result.success, false);
    assert.match(result.stdout + result.stderr, /\/handler\/autoscaling\/targetCPUUtilizationPercentage/);
  },
});

Deno.test({
  name: `${CHART}: NAMESPACES grants events only in those namespaces; no CLUSTER_NAME adds the kube-system rule`,
  ignore,
  fn: async () => {
    const objects = await renderChart({
      valuesFiles: ["examples/member-relay.yaml"],
      set: ["relay.env.CLUSTER_NAME="],
    });
    const rules = findObject(objects, "ClusterRole", "events-ingester-relay").rules as {
      resources: string[];
      resourceNames?: string[];
    }[];
    assert.equal(rules.some((rule) => rule.resources.includes("events")), false);
    assert.deepEqual(rules.filter((rule) => rule.resources.includes("namespaces")).map((r) => r.resourceNames), [[
      "kube-system",
    ]]);
    assert.ok(rules.some((rule) => rule.resources.includes("rollouts")));
    const bindings = objects.filter((o) =>
      o.kind === "RoleBinding" && o.metadata.name === "events-ingester-relay-events"
    );
    assert.deepEqual(bindings.map((b) => b.metadata.namespace), ["payments", "checkout"]);
    const eventsRole = findObject(objects, "ClusterRole", "events-ingester-relay-events").rules;
    assert.deepEqual(eventsRole, [{ apiGroups: [""], resources: ["events"], verbs: ["list", "watch"] }]);
  },
});

Deno.test({
  name: `${CHART}: an image digest wins over the tag, and the tag defaults to the chart's appVersion`,
  ignore,
  fn: async () => {
    const hub = await renderChart({ valuesFiles: ["examples/hub-handler.yaml"] });
    assert.equal(
      findComponent(hub, "handler").pod.containers[0]!.image,
      `registry.example.com/events-ingester/handler@sha256:${"0".repeat(64)}`,
    );
    const appVersion =
      (yaml.load(Deno.readTextFileSync(`${REPO_ROOT}${CHART}/Chart.yaml`)) as { appVersion: string }).appVersion;
    const defaults = await renderChart();
    assert.equal(findComponent(defaults, "relay").pod.containers[0]!.image, `events-ingester/relay:${appVersion}`);
  },
});

Deno.test({
  name: `${CHART}: the notes tell how to make the Secrets the install refers to, and name no token`,
  ignore,
  fn: async () => {
    const both = await renderNotes({ valuesFiles: ["examples/single-cluster.yaml"] });
    for (
      const line of [
        'kubectl -n events-ingester create secret generic events-ingester-relay-token --from-literal=token="$token"',
        "kubectl -n events-ingester create secret generic events-ingester-token-hashes \\",
        "--from-literal=hashes=\"my-cluster=$(printf '%s' \"$token\" | sha256sum | cut -d' ' -f1)\"",
        "kubectl -n events-ingester create secret generic events-ingester-db \\",
        "kubectl label node <node-a> <node-b> events-ingester/relay=true",
        "kubectl -n events-ingester get lease events-ingester-relay \\",
      ]
    ) {
      assert.ok(both.includes(line), `notes lack: ${line}\n${both}`);
    }
    const member = await renderNotes({ valuesFiles: ["examples/member-relay.yaml"] });
    assert.match(member, /"cluster-b=<sha256 hex of this token>"; restart the handler/);
    assert.doesNotMatch(member, /events-ingester-db/);
  },
});
