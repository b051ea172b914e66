/**
 * Test support: the Secret step of an install (deploy/README.md, "The Secret step"). The overlays do not apply the
 * example Secrets, so an install is the render plus the Secrets the operator makes; these are made the way the
 * README says, with `kubectl create secret generic ... --dry-run=client -o yaml`, from a fresh random token.
 */
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { type KubeObject, parseManifests, renderKustomization } from "./render.ts";
import { findComponent, resolveEnv } from "./workloads.ts";

/** The Secret names and keys the manifests and the chart expect. */
export const SECRET_NAMES = {
  relayToken: "events-ingester-relay-token",
  tokenHashes: "events-ingester-token-hashes",
  database: "events-ingester-db",
} as const;

/** A random relay token as the README makes it: 32 random bytes, hex. */
export function createToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `kubectl -n <namespace> create secret generic <name> --from-literal=k=v ... --dry-run=client -o yaml`. */
export async function createSecret(kubectl: string, options: {
  namespace: string;
  name: string;
  literals: Record<string, string>;
}): Promise<KubeObject> {
  const args = ["-n", options.namespace, "create", "secret", "generic", options.name];
  for (const [key, value] of Object.entries(options.literals)) args.push(`--from-literal=${key}=${value}`);
  const output = await new Deno.Command(kubectl, {
    args: [...args, "--dry-run=client", "-o", "yaml"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`Cannot create Secret ${options.name}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return parseManifests(new TextDecoder().decode(output.stdout))[0]!;
}

/** The Secrets of the step for an install holding `components`, and the relay token (null without a relay). */
export interface SecretStep {
  secrets: KubeObject[];
  token: string | null;
}

/**
 * The Secrets an operator makes for an install in `namespace`: the relay token (when a relay is installed), the
 * handler's `cluster=<sha256>` lines for `clusters` (the relay's token for the first, fresh tokens for the others)
 * and the database account (when a handler is installed).
 */
export async function createSecretStep(kubectl: string, options: {
  namespace: string;
  components: ("handler" | "relay")[];
  clusters: string[];
  token?: string;
}): Promise<SecretStep> {
  const secrets: KubeObject[] = [];
  const token = options.token ?? createToken();
  const { namespace } = options;
  if (options.components.includes("relay")) {
    secrets.push(await createSecret(kubectl, { namespace, name: SECRET_NAMES.relayToken, literals: { token } }));
  }
  if (options.components.includes("handler")) {
    const lines: string[] = [];
    for (const [index, cluster] of options.clusters.entries()) {
      lines.push(`${cluster}=${await toTokenHashHex(index === 0 ? token : createToken())}`);
    }
    secrets.push(
      await createSecret(kubectl, {
        namespace,
        name: SECRET_NAMES.tokenHashes,
        literals: { hashes: lines.join("\n") },
      }),
      await createSecret(kubectl, {
        namespace,
        name: SECRET_NAMES.database,
        literals: { username: "events_ingester", password: createToken() },
      }),
    );
  }
  return { secrets, token: options.components.includes("relay") ? token : null };
}

/**
 * Secrets an operator of the install makes, not the Secret step: CloudNativePG makes `<cluster>-app` (the database
 * owner's username and password, among other keys) for each of its Clusters.
 */
export function listOperatorSecrets(objects: KubeObject[]): string[] {
  return objects.filter((o) => o.apiVersion === "postgresql.cnpg.io/v1" && o.kind === "Cluster")
    .map((o) => `${o.metadata.name}-app`);
}

/** Which of the two components `objects` run. */
export function listComponents(objects: KubeObject[]): ("handler" | "relay")[] {
  return (["handler", "relay"] as const).filter((component) =>
    objects.some((o) =>
      ["Deployment", "DaemonSet"].includes(o.kind) && o.metadata.labels?.["app.kubernetes.io/component"] === component
    )
  );
}

/**
 * `dir` rendered with `kubectl kustomize`, plus its Secret step: the install an operator has after following the
 * README. The cluster is the relay's CLUSTER_NAME, else `clusters`.
 */
export async function renderInstall(
  kubectl: string,
  dir: string,
  options: { clusters?: string[]; token?: string } = {},
): Promise<{ objects: KubeObject[]; token: string | null }> {
  const objects = await renderKustomization(kubectl, dir);
  const components = listComponents(objects);
  const workload = findComponent(objects, components[0]!);
  const namespace = workload.object.metadata.namespace ?? "default";
  const clusterName = components.includes("relay")
    ? resolveEnv(objects, findComponent(objects, "relay").pod.containers[0]!).values.CLUSTER_NAME
    : undefined;
  const clusters = options.clusters ?? (clusterName ? [clusterName] : ["cluster-a"]);
  const step = await createSecretStep(kubectl, { namespace, components, clusters, token: options.token });
  // Stand-ins for what an operator makes, with the keys it writes that the manifests use.
  const made: KubeObject[] = [];
  for (const name of listOperatorSecrets(objects)) {
    const literals = { username: "events_ingester", password: createToken() };
    made.push(await createSecret(kubectl, { namespace, name, literals }));
  }
  return { objects: [...objects, ...step.secrets, ...made], token: step.token };
}
