/**
 * The cluster `deno task dev` watches: the current kubeconfig context when its API server answers, else the built-in
 * simulated cluster running a realistic scenario.
 */
import { createKubeClient } from "../kube/kube_client.ts";
import { runOngoingScenario } from "./scenarios/ongoing_scenario.ts";
import { startSimulator } from "./simulator.ts";

export type DevCluster =
  | { kind: "kubeconfig"; kubeconfigPath: string; server: string; stop(): Promise<void> }
  | { kind: "simulator"; kubeconfigPath: string; server: string; stop(): Promise<void> };

export interface DevClusterOptions {
  /** KUBECONFIG (first path) or ~/.kube/config; undefined when neither exists. */
  kubeconfigPath: string | undefined;
  /** Where the simulator's kubeconfig is written when it is used. */
  simulatorKubeconfigPath: string;
  /** How long the real API server gets to answer discovery. */
  probeTimeoutMs: number;
}

/**
 * Returns the server of the kubeconfig's current context when it answers discovery for core/v1 Events within
 * `probeTimeoutMs`; undefined when there is no kubeconfig, no current context, or no answer.
 */
export async function probeKubeconfigCluster(
  options: { kubeconfigPath: string | undefined; probeTimeoutMs: number },
): Promise<string | undefined> {
  if (options.kubeconfigPath === undefined) return undefined;
  let kube;
  try {
    kube = createKubeClient({ connection: { mode: "kubeconfig", path: options.kubeconfigPath } });
  } catch {
    // No usable kubeconfig (missing file, no current context): the dev pipeline uses the simulator instead.
    return undefined;
  }
  try {
    const mapping = await kube.resolveResource({
      apiVersion: "v1",
      kind: "Event",
      signal: AbortSignal.timeout(options.probeTimeoutMs),
    });
    return mapping === undefined ? undefined : kube.server;
  } catch {
    // Unreachable or refusing: treated as "no cluster answers", which the caller prints.
    return undefined;
  } finally {
    kube.close();
  }
}

/** Picks the cluster for `deno task dev`, starting the simulator and its ongoing scenario when no cluster answers. */
export async function startDevCluster(options: DevClusterOptions): Promise<DevCluster> {
  const server = await probeKubeconfigCluster(options);
  if (server !== undefined && options.kubeconfigPath !== undefined) {
    return { kind: "kubeconfig", kubeconfigPath: options.kubeconfigPath, server, stop: async () => {} };
  }
  const simulator = await startSimulator();
  await Deno.writeTextFile(options.simulatorKubeconfigPath, simulator.kubeconfig());
  const scenario = new AbortController();
  const running = runOngoingScenario({
    now: Date.now,
    signal: scenario.signal,
    createEvent: simulator.createEvent,
    updateEvent: simulator.updateEvent,
    putObject: simulator.putObject,
    getObject: () => undefined,
  });
  return {
    kind: "simulator",
    kubeconfigPath: options.simulatorKubeconfigPath,
    server: simulator.url,
    async stop() {
      scenario.abort();
      await running;
      await simulator.close();
    },
  };
}
