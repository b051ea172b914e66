/**
 * Test support for the differential test: one interface over the simulator and a real kube-apiserver, so the same
 * requests and the same writes go to both. The simulator serves events read-only over HTTP, so its side writes them
 * through the simulator's controls; the real side writes them with POST / PUT / DELETE.
 */
import type { ControlPlane } from "../../support/control_plane.ts";
import type { Simulator } from "../../../relay/simulator/simulator.ts";

/** One server under comparison. */
export interface Side {
  name: "simulator" | "kube-apiserver";
  /** `fetch` of a path on this server (JSON content type on bodies). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** kubectl against this server; with `stopAfterMs`, stopped then and its output so far returned. */
  kubectl(args: string[], options?: { stopAfterMs?: number }): Promise<string>;
  createNamespace(name: string): Promise<void>;
  createPod(namespace: string, name: string): Promise<void>;
  /** An event named `name` about Pod `subject`. */
  createEvent(namespace: string, name: string): Promise<void>;
  /** A new version of the event: count + 1. */
  updateEvent(namespace: string, name: string): Promise<void>;
  deleteEvent(namespace: string, name: string): Promise<void>;
  /** Makes every resourceVersion before the current one too old to resume from (simulator window, etcd compaction). */
  expireHistory(): Promise<void>;
}

const POD_SPEC = { containers: [{ name: "main", image: "registry.invalid/main:1" }] };

function toEventBody(namespace: string, name: string): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name, namespace },
    involvedObject: { apiVersion: "v1", kind: "Pod", namespace, name: "subject" },
    reason: "Tested",
    message: `event ${name}`,
    type: "Normal",
    source: { component: "differential-test" },
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
  };
}

/** Runs kubectl with a kubeconfig; throws on failure unless stopped on purpose. */
async function runKubectl(
  kubectl: string,
  kubeconfigPath: string,
  args: string[],
  options: { stopAfterMs?: number } = {},
): Promise<string> {
  const child = new Deno.Command(kubectl, {
    args: [`--kubeconfig=${kubeconfigPath}`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (options.stopAfterMs !== undefined) timer = setTimeout(() => child.kill("SIGTERM"), options.stopAfterMs);
  const output = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  if (!output.success && options.stopAfterMs === undefined) {
    throw new Error(`Cannot run kubectl ${args.join(" ")}: exit ${output.code}: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** Throws with the answer's body unless it is 2xx. */
async function expectOk(response: Response, what: string): Promise<void> {
  const text = await response.text();
  if (!response.ok) throw new Error(`Cannot ${what}: ${response.status} ${text}`);
}

/** The simulator side; writes its kubeconfig into the control plane's temp folder. */
export async function createSimulatorSide(simulator: Simulator, plane: ControlPlane): Promise<Side> {
  const kubeconfigPath = `${plane.dir}/simulator.kubeconfig`;
  await Deno.writeTextFile(kubeconfigPath, simulator.kubeconfig());
  const request = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (init.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
    return fetch(`${simulator.url}${path}`, { ...init, headers });
  };
  return {
    name: "simulator",
    fetch: request,
    kubectl: (args, options) => runKubectl(plane.tools.kubectl.path, kubeconfigPath, args, options),
    createNamespace: async (name) => {
      const body = JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
      await expectOk(await request("/api/v1/namespaces", { method: "POST", body }), `create namespace ${name}`);
    },
    createPod: async (namespace, name) => {
      const body = JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: POD_SPEC });
      await expectOk(await request(`/api/v1/namespaces/${namespace}/pods`, { method: "POST", body }), "create pod");
    },
    createEvent: (namespace, name) => {
      const { involvedObject, ...rest } = toEventBody(namespace, name);
      simulator.createEvent({ ...rest, involvedObject } as Parameters<Simulator["createEvent"]>[0]);
      return Promise.resolve();
    },
    updateEvent: (namespace, name) => {
      simulator.updateEvent(namespace, name, (event) => {
        event.count = (event.count ?? 1) + 1;
      });
      return Promise.resolve();
    },
    deleteEvent: (namespace, name) => {
      simulator.deleteEvent(namespace, name);
      return Promise.resolve();
    },
    expireHistory: () => {
      simulator.expireWatchWindow();
      return Promise.resolve();
    },
  };
}

/** The real side: the control plane's API server as admin. */
export function createApiServerSide(plane: ControlPlane): Side {
  const events = (namespace: string) => `/api/v1/namespaces/${namespace}/events`;
  return {
    name: "kube-apiserver",
    fetch: (path, init) => plane.apiFetch(path, init),
    kubectl: (args, options) => runKubectl(plane.tools.kubectl.path, plane.kubeconfigPath, args, options),
    createNamespace: async (name) => {
      const body = JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
      await expectOk(await plane.apiFetch("/api/v1/namespaces", { method: "POST", body }), `create namespace ${name}`);
      // Without kube-controller-manager nobody makes the `default` ServiceAccount that Pod admission looks up.
      const account = JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default" } });
      const accounts = `/api/v1/namespaces/${name}/serviceaccounts`;
      await expectOk(
        await plane.apiFetch(accounts, { method: "POST", body: account }),
        "create ServiceAccount default",
      );
    },
    createPod: async (namespace, name) => {
      const body = JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec: POD_SPEC });
      await expectOk(
        await plane.apiFetch(`/api/v1/namespaces/${namespace}/pods`, { method: "POST", body }),
        "create pod",
      );
    },
    createEvent: async (namespace, name) => {
      const body = JSON.stringify(toEventBody(namespace, name));
      await expectOk(await plane.apiFetch(events(namespace), { method: "POST", body }), `create event ${name}`);
    },
    updateEvent: async (namespace, name) => {
      const event = await plane.apiJson<{ count?: number }>(`${events(namespace)}/${name}`);
      event.count = (event.count ?? 1) + 1;
      const response = await plane.apiFetch(`${events(namespace)}/${name}`, {
        method: "PUT",
        body: JSON.stringify(event),
      });
      await expectOk(response, `update event ${name}`);
    },
    deleteEvent: async (namespace, name) => {
      await expectOk(await plane.apiFetch(`${events(namespace)}/${name}`, { method: "DELETE" }), `delete ${name}`);
    },
    expireHistory: async () => {
      await plane.compactEtcd();
    },
  };
}
