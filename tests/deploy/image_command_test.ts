/**
 * The images work: each image's /app is built from its Dockerfile's own steps (tests/deploy/image_build.ts: the
 * COPY steps with the Dockerfile.dockerignore context, the RUN steps with the local deno), and handler/main.ts and
 * relay/main.ts run there with exactly the image's `deno run` command, `--cached-only` included, and the
 * environment of deploy/overlays/single-cluster with the Secrets of its Secret step, against a real PostgreSQL and
 * the Kubernetes API simulator. Events flow into the database, every probe in the manifests answers 200, the
 * handler's and the relay's Prometheus scrape targets (their pod annotations) answer, and their OTLP pushes
 * (OTEL_ENABLED) reach a receiver.
 *
 * What differs from a pod, and why: the database URL and schema are the test's; ports are 0 (the processes say which
 * they took); `/var/run/secrets/...` lives below a temporary directory; the relay reaches the simulator through a
 * kubeconfig (it has no service account), which its read permission is widened to; DENO_DIR is the test's cache,
 * which the build steps filled.
 */
import assert from "node:assert/strict";
import { startSimulator } from "../../relay/simulator/simulator.ts";
import { withTestSchema } from "../support/database.ts";
import { parseDockerfile } from "./dockerfile.ts";
import { buildImageDir } from "./image_build.ts";
import { type LogProcess, readLogField, startLogProcess } from "./log_process.ts";
import { KUBECTL, REPO_ROOT } from "./render.ts";
import { renderInstall } from "./secret_step.ts";
import { findComponent, materializeMounts, type Probe, resolveEnv, resolvePort, type Workload } from "./workloads.ts";
import type { KubeObject } from "./render.ts";

const OVERLAY = "deploy/overlays/single-cluster";
const DB_VARIABLES = ["DB_HOST", "DB_PORT", "DB_NAME", "DB_PARAMS", "DB_USER", "DB_PASS"];

/** The image's `deno run` arguments, with the paths it may read moved below `rootDir`. */
function imageArgs(component: string, rootDir: string, extraReadPaths: string[] = []): string[] {
  const { command } = parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}deploy/${component}/Dockerfile`));
  assert.equal(command[0], "deno");
  assert.ok(command.includes("--cached-only"));
  return command.slice(1).map((arg) => {
    const read = /^--allow-read=(.*)$/.exec(arg);
    if (!read) return arg;
    const paths = read[1]!.split(",").map((path) => `${rootDir}${path}`);
    return `--allow-read=${[...paths, ...extraReadPaths].join(",")}`;
  });
}

/** What a process needs from the test's own environment: Deno's cache and PATH, nothing else. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function podEnv(objects: KubeObject[], workload: Workload, rootDir: string): Record<string, string> {
  const container = workload.pod.containers[0]!;
  return materializeMounts({
    objects,
    pod: workload.pod,
    container,
    rootDir,
    values: resolveEnv(objects, container).values,
  });
}

/** GETs every probe path of the workload's container on `port` (the process's real port for the named one). */
async function probeStatuses(workload: Workload, portName: string, port: number): Promise<string[]> {
  const container = workload.pod.containers[0]!;
  const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe]
    .filter((probe): probe is Probe => probe !== undefined);
  const statuses: string[] = [];
  for (const probe of probes) {
    assert.ok(probe.httpGet, "every probe is an HTTP GET");
    assert.equal(resolvePort(container, probe.httpGet.port), resolvePort(container, portName));
    const response = await fetch(`http://127.0.0.1:${port}${probe.httpGet.path}`);
    await response.body?.cancel();
    statuses.push(`${probe.httpGet.path} ${response.status}`);
  }
  return statuses;
}

/**
 * GETs the Prometheus path of the workload's scrape annotations on `port` (the process's real port for the
 * annotated one); each answer as `<path> <status> <metric names, ours as events_ingester_*, sorted>`.
 */
async function scrapeStatuses(workload: Workload, portName: string, port: number): Promise<string[]> {
  const annotations = (workload.object.spec as { template: { metadata: { annotations?: Record<string, string> } } })
    .template.metadata.annotations ?? {};
  assert.equal(annotations["prometheus.io/scrape"], "true");
  assert.equal(Number(annotations["prometheus.io/port"]), resolvePort(workload.pod.containers[0]!, portName));
  const path = annotations["prometheus.io/path"] ?? "/metrics";
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await response.text();
  const names = new Set(
    text.split("\n").filter((line) => /^[a-z]/.test(line)).map((line) => line.split(/[{ ]/)[0]!)
      .map((name) => name.startsWith("events_ingester_") ? "events_ingester_*" : name),
  );
  return [`${path} ${response.status} ${[...names].sort().join(",")}`];
}

Deno.test({
  name: "deploy/ image commands: handler and relay run with their Dockerfile permissions and the overlay's config",
  ignore: KUBECTL === null,
  fn: async () => {
    // The overlay plus the Secrets of the README's Secret step (fresh token): the examples are refused by design.
    const { objects } = await renderInstall(KUBECTL!, OVERLAY);
    const handler = findComponent(objects, "handler");
    const relay = findComponent(objects, "relay");
    const rootDir = await Deno.makeTempDir({ prefix: "deploy-image-" });
    const handlerApp = await buildImageDir("handler", `${rootDir}/image-handler/app`);
    const relayApp = await buildImageDir("relay", `${rootDir}/image-relay/app`);
    const simulator = await startSimulator();
    const signal = AbortSignal.timeout(60_000);
    const processes: LogProcess[] = [];
    // Where OTLP pushes land: an HTTP receiver that records what was posted where.
    const pushes: string[] = [];
    const otlpReceiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
      // OTLP protobuf carries strings as UTF-8: the resource's service.name is readable in the body.
      const body = new TextDecoder().decode(await request.arrayBuffer());
      const service = /events-ingester-(handler|relay)/.exec(body)?.[0] ?? "(no service.name)";
      pushes.push(`${request.method} ${new URL(request.url).pathname} ${service}`);
      return new Response(null, { status: 200 });
    });
    const otlpEnv = {
      OTEL_ENABLED: "true",
      OTEL_EXPORT_INTERVAL: "1s",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpReceiver.addr.port}`,
    };
    try {
      await withTestSchema(async (schema, sql) => {
        const handlerEnv = podEnv(objects, handler, rootDir);
        for (const name of DB_VARIABLES) delete handlerEnv[name];
        const handlerProcess = startLogProcess(Deno.execPath(), {
          args: imageArgs("handler", rootDir),
          env: {
            ...baseEnv(),
            ...handlerEnv,
            DATABASE_URL: Deno.env.get("TEST_DATABASE_URL")!,
            DB_SCHEMA: schema,
            PORT: "0",
            ...otlpEnv,
          },
          cwd: handlerApp,
        });
        processes.push(handlerProcess);
        const handlerPort = await handlerProcess.waitFor(
          (l) => readLogField(l, "listening", "port") as number | undefined,
          { signal },
        );

        const kubeconfig = `${rootDir}/kubeconfig`;
        await Deno.writeTextFile(kubeconfig, simulator.kubeconfig());
        const relayProcess = startLogProcess(Deno.execPath(), {
          args: imageArgs("relay", rootDir, [kubeconfig]),
          env: {
            ...baseEnv(),
            ...podEnv(objects, relay, rootDir),
            HANDLER_URL: `http://127.0.0.1:${handlerPort}`,
            HEALTH_PORT: "0",
            KUBECONFIG: kubeconfig,
            ...otlpEnv,
            POD_NAME: "events-ingester-relay-test",
            POD_NAMESPACE: relay.object.metadata.namespace!,
          },
          cwd: relayApp,
        });
        processes.push(relayProcess);
        const healthPort = await relayProcess.waitFor(
          (l) => readLogField(l, "probes listening", "port") as number | undefined,
          {
            signal,
          },
        );
        await relayProcess.waitFor((l) => readLogField(l, "became leader", "holder") as string | undefined, { signal });

        const events = await simulator.podLifecycle({ namespace: "shop", deployment: "web", replicas: 1 });
        assert.equal(events.length, 7);
        let stored = 0;
        while (stored < events.length && !signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const [row] = await sql.unsafe(
            `select count(*)::int as n from "${schema}".k8s_events where cluster_name = $1`,
            [
              resolveEnv(objects, relay.pod.containers[0]!).values.CLUSTER_NAME!,
            ],
          );
          stored = (row as unknown as { n: number }).n;
        }
        assert.equal(
          stored,
          events.length,
          `rows stored\n${handlerProcess.lines.join("\n")}\n${relayProcess.lines.join("\n")}`,
        );

        assert.deepEqual(await probeStatuses(handler, "http", handlerPort), [
          "/livez 200",
          "/livez 200",
          "/readyz 200",
        ]);
        assert.deepEqual(await probeStatuses(relay, "health", healthPort), ["/livez 200", "/readyz 200"]);
        assert.deepEqual(await scrapeStatuses(handler, "http", handlerPort), [
          "/metrics 200 events_ingester_*,target_info",
        ]);
        assert.deepEqual(await scrapeStatuses(relay, "health", healthPort), [
          "/metrics 200 events_ingester_*,target_info",
        ]);
        const expected = ["POST /v1/metrics events-ingester-handler", "POST /v1/metrics events-ingester-relay"];
        while (!expected.every((push) => pushes.includes(push)) && !signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.deepEqual([...new Set(pushes)].sort(), expected);
        assert.equal(await relayProcess.stop(), 0, relayProcess.lines.join("\n"));
        assert.equal(await handlerProcess.stop(), 0, handlerProcess.lines.join("\n"));
      });
    } finally {
      for (const process of processes) await process.stop("SIGKILL");
      await simulator.close();
      await otlpReceiver.shutdown();
      await Deno.remove(rootDir, { recursive: true });
    }
  },
});
