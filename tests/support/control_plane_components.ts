/**
 * Starting and stopping the processes of a test control plane: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler, each with the flags a loopback-only throwaway cluster needs. `control_plane.ts` sequences them.
 */
import type { ControlPlaneOptions } from "./control_plane.ts";
import type { Pki } from "./kube_pki.ts";
import { findFreePort, type LoggedProcess, spawnLogged, stopProcess, waitUntil, Watchdog } from "./kube_processes.ts";
import type { Tools } from "./kube_tools.ts";

const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
const PORT_ATTEMPTS = 3;

/** What the start sequence builds up, so that a failure at any step can stop what was started. */
export interface StartState {
  tools: Tools;
  settings: Required<ControlPlaneOptions>;
  dir: string;
  watchdog: Watchdog;
  processes: LoggedProcess[];
  httpClient?: Deno.HttpClient;
}

/**
 * Starts a server whose ports are picked just before, again with new ports (up to 3 times) when another process took
 * one in between. `start` spawns it on the ports given; `isReady` is polled until true.
 */
async function startOnFreePorts(
  state: StartState,
  spec: {
    name: string;
    portCount: number;
    start: (ports: number[]) => Promise<LoggedProcess>;
    isReady: (ports: number[]) => Promise<boolean>;
  },
): Promise<number[]> {
  for (let attempt = 1;; attempt++) {
    const ports = Array.from({ length: spec.portCount }, () => findFreePort());
    if (new Set(ports).size < ports.length) continue;
    const process = await spec.start(ports);
    state.processes.push(process);
    try {
      await waitUntil(`${spec.name} to be ready`, () => spec.isReady(ports), {
        timeoutMs: state.settings.readyTimeoutMs,
        processes: state.processes,
      });
      return ports;
    } catch (error) {
      const log = await Deno.readTextFile(process.logFile);
      if (!process.exit || attempt >= PORT_ATTEMPTS || !/address already in use/.test(log)) throw error;
      state.processes.pop();
      await Deno.rename(process.logFile, `${process.logFile}.${attempt}`);
    }
  }
}

/** Starts etcd on two free loopback ports; resolves to its client URL once /health answers. */
export async function startEtcd(state: StartState): Promise<string> {
  const [clientPort] = await startOnFreePorts(state, {
    name: "etcd",
    portCount: 2,
    start: ([clientPort, peerPort]) => {
      const client = `http://127.0.0.1:${clientPort}`;
      const peer = `http://127.0.0.1:${peerPort}`;
      return spawnLogged(state.watchdog, {
        name: "etcd",
        command: state.tools.etcd.path,
        logFile: `${state.dir}/etcd.log`,
        args: [
          "--name=events-ingester-test",
          `--data-dir=${state.dir}/etcd-${clientPort}`, // a retry on other ports must not find this member's data
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=events-ingester-test=${peer}`,
          "--unsafe-no-fsync", // throwaway data: durability buys nothing and costs every write a sync
        ],
      });
    },
    isReady: async ([clientPort]) => {
      const response = await fetch(`http://127.0.0.1:${clientPort}/health`);
      const body = await response.json() as { health?: string };
      return response.ok && body.health === "true";
    },
  });
  return `http://127.0.0.1:${clientPort}`;
}

/** Starts kube-apiserver on a free loopback port; resolves to its URL once /readyz answers "ok". */
export async function startApiServer(
  state: StartState,
  context: { pki: Pki; etcdUrl: string; tokenFile: string; adminToken: string },
): Promise<string> {
  const { pki } = context;
  const { settings } = state;
  const httpClient = state.httpClient!;
  const [port] = await startOnFreePorts(state, {
    name: "kube-apiserver /readyz",
    portCount: 1,
    start: ([port]) =>
      spawnLogged(state.watchdog, {
        name: "kube-apiserver",
        command: state.tools["kube-apiserver"].path,
        logFile: `${state.dir}/kube-apiserver.log`,
        // A graceful stop closes idle keep-alive connections with a TLS close_notify; a Deno 2.9.6 process whose
        // @kubernetes/client-node (undici) connection receives it crashes with SIGSEGV most of the time. Killed, the
        // server only leaves the sockets to the kernel, which ends them without close_notify.
        stopSignal: "SIGKILL",
        args: [
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${port}`,
          `--etcd-servers=${context.etcdUrl}`,
          `--tls-cert-file=${pki.servingCertFile}`,
          `--tls-private-key-file=${pki.servingKeyFile}`,
          `--client-ca-file=${pki.caCertFile}`,
          `--token-auth-file=${context.tokenFile}`,
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
          `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
          "--authorization-mode=Node,RBAC",
          `--event-ttl=${settings.eventTtlS}s`,
          `--service-cluster-ip-range=${settings.serviceClusterIpRange}`,
          // The `kubernetes` Service cannot have a loopback endpoint (validation refuses it), so none is written.
          "--endpoint-reconciler-type=none",
          `--cert-dir=${state.dir}/apiserver-certs`,
          ...settings.apiServerArgs,
        ],
      }),
    isReady: async ([port]) => {
      const response = await fetch(`https://127.0.0.1:${port}/readyz`, {
        client: httpClient,
        headers: { authorization: `Bearer ${context.adminToken}` },
      });
      const text = await response.text();
      return response.ok && text === "ok";
    },
  });
  return `https://127.0.0.1:${port}`;
}

/** Starts kube-controller-manager; resolves once `isReady` (its first visible work) is true. */
export async function startControllerManager(
  state: StartState,
  context: { pki: Pki; kubeconfigPath: string; isReady: () => Promise<boolean> },
): Promise<void> {
  const process = await spawnLogged(state.watchdog, {
    name: "kube-controller-manager",
    command: state.tools["kube-controller-manager"].path,
    logFile: `${state.dir}/kube-controller-manager.log`,
    args: [
      `--kubeconfig=${context.kubeconfigPath}`,
      "--secure-port=0",
      "--controllers=*",
      "--use-service-account-credentials=true",
      "--leader-elect=false",
      `--root-ca-file=${context.pki.caCertFile}`,
      `--service-account-private-key-file=${context.pki.serviceAccountKeyFile}`,
      `--cluster-signing-cert-file=${context.pki.caCertFile}`,
      `--cluster-signing-key-file=${context.pki.caKeyFile}`,
      `--service-cluster-ip-range=${state.settings.serviceClusterIpRange}`,
    ],
  });
  state.processes.push(process);
  await waitUntil("kube-controller-manager to create the default ServiceAccount", context.isReady, {
    timeoutMs: state.settings.readyTimeoutMs,
    processes: state.processes,
  });
}

/** Starts kube-scheduler; it has no serving port to poll, so this resolves once it is spawned. */
export async function startScheduler(state: StartState, kubeconfigPath: string): Promise<void> {
  state.processes.push(
    await spawnLogged(state.watchdog, {
      name: "kube-scheduler",
      command: state.tools["kube-scheduler"].path,
      logFile: `${state.dir}/kube-scheduler.log`,
      args: [`--kubeconfig=${kubeconfigPath}`, "--secure-port=0", "--leader-elect=false"],
    }),
  );
}

/** Stops the processes in reverse start order, closes the HTTP client, and lets the watchdog remove the folder. */
export async function stopAll(state: StartState): Promise<void> {
  for (const process of [...state.processes].reverse()) await stopProcess(process);
  state.httpClient?.close();
  await state.watchdog.close();
}
