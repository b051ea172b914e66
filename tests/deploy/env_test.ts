/**
 * deploy/ configuration: every environment variable a manifest sets is one the component's real config loader
 * reads, the loader accepts what the manifests set (Secrets mounted as files included), and the ports and names the
 * manifests rely on are the ones the loaders produce.
 */
import assert from "node:assert/strict";
import { loadHandlerConfig } from "../../handler/config.ts";
import { toStopBoundS } from "../../handler/start.ts";
import { parseTokenHashes, toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { SERVICE_ACCOUNT_DIR } from "../../relay/kube/kube_config.ts";
import { OTLP_ENV_NAMES } from "../../shared/telemetry/telemetry.ts";
import {
  findObject,
  KUBECTL,
  type KubeObject,
  listInstallable,
  parseManifests,
  renderKustomization,
  REPO_ROOT,
} from "./render.ts";
import { renderInstall } from "./secret_step.ts";
import { spawnDeno, stopChild } from "../support/subprocess.ts";
import { findComponent, materializeMounts, readData, resolveEnv, resolvePort, type Workload } from "./workloads.ts";
import { recordReads } from "../support/env_reads.ts";

const ignore = KUBECTL === null;

/** Read by the OpenTelemetry exporter itself when OTEL_ENABLED is true, not by the loaders (shared/telemetry.ts). */
const EXPORTER_ENV_NAMES = new Set(OTLP_ENV_NAMES);

/** What the kubelet adds to every container's environment (the loaders may read these too). */
const KUBELET_ENV = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443", HOSTNAME: "pod-0" };

/** The component's environment from the render, with mounted Secrets written below `rootDir`. */
function podEnv(objects: KubeObject[], workload: Workload, rootDir: string) {
  const container = workload.pod.containers[0]!;
  const { values, sources } = resolveEnv(objects, container);
  const env = materializeMounts({ objects, pod: workload.pod, container, rootDir, values });
  return { container, env, sources };
}

/** The installable kustomizations rendered once with their Secret step; empty when kubectl is missing. */
const RENDERS: [string, KubeObject[]][] = KUBECTL === null ? [] : await Promise.all(
  listInstallable().map(async (dir) => [dir, (await renderInstall(KUBECTL!, dir)).objects] as [string, KubeObject[]]),
);

function hasComponent(objects: KubeObject[], component: string): boolean {
  return objects.some((o) =>
    ["Deployment", "DaemonSet"].includes(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === component
  );
}

for (const [dir, objects] of RENDERS.filter(([, objects]) => hasComponent(objects, "handler"))) {
  Deno.test({
    name: `${dir}: the handler's config loader reads every variable the manifest sets and accepts their values`,
    fn: async () => {
      const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
      try {
        const { container, env, sources } = podEnv(objects, findComponent(objects, "handler"), rootDir);
        const recorded = recordReads({ ...KUBELET_ENV, ...env });
        const config = loadHandlerConfig(recorded.env);
        assert.deepEqual(
          Object.keys(sources).filter((name) => !recorded.names.has(name) && !EXPORTER_ENV_NAMES.has(name)),
          [],
        );
        assert.equal(config.port, resolvePort(container, "http"));
        assert.ok(config.tokenHashes.length > 0);
        const pod = findComponent(objects, "handler").pod as { terminationGracePeriodSeconds?: number };
        const graceS = pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(graceS > toStopBoundS(config.shutdownDeadlineS), `grace period ${graceS} s below the stop bound`);
        const startup = container.startupProbe;
        assert.ok(startup, "the handler has a startup probe");
        // Kubernetes defaults: periodSeconds 10, failureThreshold 3.
        const startupS = (startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3);
        assert.ok(startupS > config.dbReadyTimeoutS, `startup probe gives up after ${startupS} s`);
      } finally {
        await Deno.remove(rootDir, { recursive: true });
      }
    },
  });
}

for (const [dir, objects] of RENDERS.filter(([, objects]) => hasComponent(objects, "relay"))) {
  Deno.test({
    name: `${dir}: the relay's config loader reads every variable the manifest sets and accepts their values`,
    fn: async () => {
      const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
      try {
        const relay = findComponent(objects, "relay");
        const { container, env, sources } = podEnv(objects, relay, rootDir);
        const recorded = recordReads({ ...KUBELET_ENV, ...env, POD_NAMESPACE: relay.object.metadata.namespace ?? "" });
        const config = loadRelayConfig(recorded.env, { hostname: "pod-0" });
        assert.deepEqual(
          Object.keys(sources).filter((name) => !recorded.names.has(name) && !EXPORTER_ENV_NAMES.has(name)),
          [],
        );
        assert.equal(config.healthPort, resolvePort(container, "health"));
        const pod = relay.pod as { terminationGracePeriodSeconds?: number };
        assert.ok((pod.terminationGracePeriodSeconds ?? 30) > config.shutdownDeadlineS, "grace period below shutdown");
        assert.deepEqual(config.kube, { mode: "in-cluster", serviceAccountDir: SERVICE_ACCOUNT_DIR });
        assert.equal(config.podName, "<fieldRef:metadata.name>");
        assert.equal(config.leaseNamespace, relay.object.metadata.namespace);
        const leaseRole = findObject(objects, "Role", "events-ingester-relay-lease");
        const named = (leaseRole.rules as { resourceNames?: string[] }[]).flatMap((rule) => rule.resourceNames ?? []);
        assert.deepEqual(named, [config.leaseName]);
        assert.equal(leaseRole.metadata.namespace, config.leaseNamespace);
        assert.ok("file" in config.handlerToken && Deno.readTextFileSync(config.handlerToken.file).length > 0);
      } finally {
        await Deno.remove(rootDir, { recursive: true });
      }
    },
  });
}

/** `cluster -> sha256 hex` as the handler of `objects` accepts them, read by the real loader. */
async function handlerTokenHashes(objects: KubeObject[]): Promise<Record<string, string>> {
  const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
  try {
    const { env } = podEnv(objects, findComponent(objects, "handler"), rootDir);
    const config = loadHandlerConfig(env);
    return Object.fromEntries(config.tokenHashes.map((entry) => [entry.cluster, entry.sha256Hex]));
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
}

Deno.test({
  name: "deploy/overlays/single-cluster: the handler accepts the relay's token made by the Secret step",
  ignore,
  fn: async () => {
    const { objects, token } = await renderInstall(KUBECTL!, "deploy/overlays/single-cluster");
    const relayEnv = resolveEnv(objects, findComponent(objects, "relay").pod.containers[0]!).values;
    assert.equal(readData(objects, "Secret", "events-ingester-relay-token").token, token);
    assert.deepEqual(await handlerTokenHashes(objects), { [relayEnv.CLUSTER_NAME!]: await toTokenHashHex(token!) });
  },
});

Deno.test({
  name:
    "deploy/examples/multi-cluster: each relay's example token is the hosted handler's example line for its cluster",
  ignore,
  fn: async () => {
    const dir = "deploy/examples/multi-cluster";
    const hostedExample = parseManifests(
      Deno.readTextFileSync(`${REPO_ROOT}${dir}/hosted-handler/secrets.example.yaml`),
    );
    const problems: string[] = [];
    const lines = parseTokenHashes(readData(hostedExample, "Secret", "events-ingester-token-hashes").hashes!, {
      source: "example",
      problems,
    });
    const relays: Record<string, string> = {};
    for (const cluster of ["cluster-a", "cluster-b"]) {
      const example = parseManifests(Deno.readTextFileSync(`${REPO_ROOT}${dir}/${cluster}/secrets.example.yaml`));
      const objects = await renderKustomization(KUBECTL!, `${dir}/${cluster}`);
      const env = resolveEnv(objects, findComponent(objects, "relay").pod.containers[0]!).values;
      relays[env.CLUSTER_NAME!] = await toTokenHashHex(
        readData(example, "Secret", "events-ingester-relay-token").token!,
      );
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.keys(relays), ["cluster-a", "cluster-b"]);
    assert.deepEqual(Object.fromEntries(lines.map((line) => [line.cluster, line.sha256Hex])), relays);
  },
});

Deno.test({
  name: "deploy/examples/multi-cluster/hosted-handler: the handler accepts one hash line per cluster, none shared",
  ignore,
  fn: async () => {
    const { objects } = await renderInstall(KUBECTL!, "deploy/examples/multi-cluster/hosted-handler", {
      clusters: ["cluster-a", "cluster-b"],
    });
    const hashes = await handlerTokenHashes(objects);
    assert.deepEqual(Object.keys(hashes), ["cluster-a", "cluster-b"]);
    assert.notEqual(hashes["cluster-a"], hashes["cluster-b"]);
  },
});

for (const dir of ["deploy/overlays/single-cluster", "deploy/examples/multi-cluster/hosted-handler"]) {
  Deno.test({
    name: `${dir}: handler/main.ts refuses the example Secret's published token hash and exits 2`,
    ignore,
    fn: async () => {
      const objects = [
        ...await renderKustomization(KUBECTL!, dir),
        ...parseManifests(Deno.readTextFileSync(`${REPO_ROOT}${dir}/secrets.example.yaml`)),
      ];
      const rootDir = await Deno.makeTempDir({ prefix: "deploy-env-" });
      try {
        const { env } = podEnv(objects, findComponent(objects, "handler"), rootDir);
        const child = spawnDeno(["run", "-A", "handler/main.ts"], env);
        await child.status;
        const output = await stopChild(child);
        assert.equal(output.code, 2, output.stderr);
        const problems = output.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
          JSON.parse(line)
        )
          .filter((line) => line.msg === "invalid configuration").map((line) => String(line.problem));
        const lines = readData(objects, "Secret", "events-ingester-token-hashes").hashes!.trim().split("\n");
        assert.equal(problems.length, lines.length, output.stdout);
        for (const problem of problems) {
          assert.match(
            problem,
            /^CLUSTER_TOKEN_HASHES_FILE \(.*\/hashes\): the hash for cluster "[^"]+" is that of the example token published in deploy\//,
          );
        }
      } finally {
        await Deno.remove(rootDir, { recursive: true });
      }
    },
  });
}
