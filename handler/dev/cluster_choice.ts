/**
 * Which cluster `deno task dev` watches. The built-in simulator unless DEV_CLUSTER=kubeconfig asks for the current
 * context of KUBECONFIG (or ~/.kube/config) explicitly: the relay creates a Lease there and reads every Event, so a
 * real cluster is never used by surprise. The context's name and server are read here so the banner can show them
 * before the relay starts.
 */
import { load } from "js-yaml";

export type DevClusterChoice =
  | { kind: "simulator" }
  | { kind: "kubeconfig"; kubeconfigPath: string; context: string; server: string };

type Env = Record<string, string | undefined>;

/** KUBECONFIG's first path, else ~/.kube/config. */
function toKubeconfigPath(env: Env): string | undefined {
  return env.KUBECONFIG?.split(":").find((p) => p !== "") ?? (env.HOME ? `${env.HOME}/.kube/config` : undefined);
}

interface NamedEntry {
  name?: unknown;
  context?: { cluster?: unknown };
  cluster?: { server?: unknown };
}

/** The current context's name and server in a kubeconfig's text (YAML or JSON). Throws SyntaxError when absent. */
export function parseCurrentContext(text: string): { context: string; server: string } {
  const config = load(text) as { "current-context"?: unknown; contexts?: NamedEntry[]; clusters?: NamedEntry[] };
  const context = config?.["current-context"];
  if (typeof context !== "string" || context === "") throw new SyntaxError("it names no current-context");
  const clusterName = config.contexts?.find((entry) => entry.name === context)?.context?.cluster;
  const server = config.clusters?.find((entry) => entry.name === clusterName)?.cluster?.server;
  if (typeof server !== "string") {
    throw new SyntaxError(`its current context "${context}" names no cluster with a server`);
  }
  return { context, server };
}

/**
 * Reads DEV_CLUSTER (`simulator`, the default, or `kubeconfig`). Throws TypeError with a "Cannot ..." message for
 * another value, a missing kubeconfig, or one without a usable current context.
 */
export async function readDevClusterChoice(env: Env): Promise<DevClusterChoice> {
  const choice = env.DEV_CLUSTER?.trim() || "simulator";
  if (choice === "simulator") return { kind: "simulator" };
  if (choice !== "kubeconfig") {
    throw new TypeError(
      `Cannot choose the dev cluster: DEV_CLUSTER is "${choice.slice(0, 40)}", not simulator or kubeconfig`,
    );
  }
  const kubeconfigPath = toKubeconfigPath(env);
  if (kubeconfigPath === undefined) {
    throw new TypeError("Cannot use DEV_CLUSTER=kubeconfig: KUBECONFIG and HOME are unset");
  }
  let text: string;
  try {
    text = await Deno.readTextFile(kubeconfigPath);
  } catch (error) {
    throw new TypeError(`Cannot use DEV_CLUSTER=kubeconfig: cannot read ${kubeconfigPath}`, { cause: error });
  }
  try {
    return { kind: "kubeconfig", kubeconfigPath, ...parseCurrentContext(text) };
  } catch (error) {
    throw new TypeError(`Cannot use DEV_CLUSTER=kubeconfig: ${kubeconfigPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
