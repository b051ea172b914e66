/**
 * Where the Kubernetes API server is and how to authenticate to it: the only file that imports
 * `@kubernetes/client-node`.
 *
 * The package's entry point loads its whole generated API (about 75 MiB resident for code the relay never calls), and
 * even its small kubeconfig modules load Node's `fs` and `child_process` layers (several MiB of an idle relay). So
 * this file reads kubeconfig entries itself (`kube_config_entries.ts`, as the package's `config_types.js` does) and
 * reads token files itself; the YAML parser is loaded only for a kubeconfig file (not in a pod), the exec plugin
 * (`exec_auth.js`) only for a user that names one, and the legacy `auth-provider` plugins (azure, gcp, oidc), which
 * need the full `KubeConfig`, only for a user whose kubeconfig names one.
 */
import type { Cluster, Context, User } from "@kubernetes/client-node/dist/config_types.js";
import { toClusters, toContexts, toUsers } from "./kube_config_entries.ts";

/** Where the connection settings come from. */
export type KubeConnection =
  /** `serviceAccountDir` holds `token` and `ca.crt`; the standard pod path when undefined. */
  | { mode: "in-cluster"; serviceAccountDir?: string }
  | { mode: "kubeconfig"; path: string; context?: string };

/** What one request needs: headers and, for https, the TLS material (PEM bytes). */
export interface KubeRequestOptions {
  headers: Record<string, string>;
  ca?: Uint8Array;
  cert?: Uint8Array;
  key?: Uint8Array;
  /** false when the kubeconfig sets insecure-skip-tls-verify. */
  rejectUnauthorized?: boolean;
}

/** The resolved connection: the server, and a function that fills in credentials (re-read as tokens rotate). */
export interface KubeCredentials {
  /** The API server URL, without a trailing slash. */
  server: string;
  /** The kubeconfig context's cluster name; undefined in-cluster. */
  contextCluster?: string;
  /** Adds the current credentials (bearer token, client certificate, CA) to `options`. */
  apply(options: KubeRequestOptions): Promise<void>;
}

/** Where a pod has its service account's token and CA. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** `auth-provider` plugins that only the full client implements. */
const LEGACY_PROVIDERS = new Set(["azure", "gcp", "oidc"]);
/** How long a token file's content is used before it is read again (client-go and client-node wait 60 s too). */
export const TOKEN_FILE_REREAD_MS = 60_000;

/**
 * Reads the connection settings. In a pod: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT from `env` and the
 * service account's token and CA. Otherwise the kubeconfig file and its current context (or `context`).
 * Rejects with Error "Cannot load Kubernetes configuration: ..." when the file is missing or invalid, when there is no
 * current context, or when it names no server: it never falls back to localhost.
 */
export async function loadKubeCredentials(
  connection: KubeConnection,
  options: {
    env: Record<string, string | undefined>;
    /** Where the service account's token and ca.crt are; else the connection's, else the standard path. */
    serviceAccountDir?: string;
    /** The clock of token file re-reads; Date.now unless a test passes its own. */
    now?: () => number;
  },
): Promise<KubeCredentials> {
  let clusters: Cluster[], contexts: Context[], users: User[], currentContext: string | undefined;
  try {
    if (connection.mode === "in-cluster") {
      ({ clusters, contexts, users, currentContext } = toInClusterConfig(
        options.env,
        options.serviceAccountDir ?? connection.serviceAccountDir ?? SERVICE_ACCOUNT_DIR,
      ));
    } else {
      const text = Deno.readTextFileSync(connection.path);
      const { load: loadYaml } = await import("js-yaml");
      const parsed = (loadYaml(text) ?? {}) as Record<string, unknown>;
      clusters = toClusters(parsed.clusters);
      contexts = toContexts(parsed.contexts);
      users = toUsers(parsed.users);
      currentContext = connection.context ??
        (typeof parsed["current-context"] === "string" ? parsed["current-context"] : undefined);
      const dir = connection.path.includes("/") ? connection.path.slice(0, connection.path.lastIndexOf("/")) : ".";
      for (const cluster of clusters) if (cluster.caFile) cluster.caFile = toAbsolutePath(dir, cluster.caFile);
      for (const user of users) {
        if (user.certFile) user.certFile = toAbsolutePath(dir, user.certFile);
        if (user.keyFile) user.keyFile = toAbsolutePath(dir, user.keyFile);
      }
    }
  } catch (error) {
    throw new Error(`Cannot load Kubernetes configuration: ${(error as Error).message}`, { cause: error });
  }
  const context = contexts.find((c) => c.name === currentContext);
  const cluster = context === undefined ? undefined : clusters.find((c) => c.name === context.cluster);
  if (cluster === undefined || !cluster.server) {
    throw new Error(
      `Cannot load Kubernetes configuration: context "${currentContext ?? ""}" names no cluster server`,
    );
  }
  const user = users.find((u) => u.name === context!.user);
  const authenticate = toAuthenticator(user, {
    all: { clusters, contexts, users, currentContext: currentContext! },
    now: options.now ?? Date.now,
  });
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ...(connection.mode === "in-cluster" ? {} : { contextCluster: cluster.name }),
    async apply(options) {
      if (cluster.skipTLSVerify) options.rejectUnauthorized = false;
      const ca = readPem(cluster.caFile, cluster.caData);
      if (ca !== undefined) options.ca = ca;
      if (user === undefined) return;
      const cert = readPem(user.certFile, user.certData);
      if (cert !== undefined) options.cert = cert;
      const key = readPem(user.keyFile, user.keyData);
      if (key !== undefined) options.key = key;
      if (user.impersonateUser != null) options.headers["Impersonate-User"] = user.impersonateUser;
      await authenticate(options);
      if (user.token) options.headers.Authorization = `Bearer ${user.token}`;
      else if (user.username) {
        options.headers.Authorization = `Basic ${btoa(`${user.username}:${user.password ?? ""}`)}`;
      }
    },
  };
}

/** The plugin that adds the user's token, in the order the full client tries them; a no-op without one. */
function toAuthenticator(
  user: User | undefined,
  options: {
    all: { clusters: Cluster[]; contexts: Context[]; users: User[]; currentContext: string };
    now: () => number;
  },
): (options: KubeRequestOptions) => Promise<void> {
  const none = () => Promise.resolve();
  if (user === undefined) return none;
  const provider = (user.authProvider as { name?: unknown } | undefined)?.name;
  if (typeof provider === "string" && LEGACY_PROVIDERS.has(provider)) return toLegacyAuthenticator(options.all);
  if (isExecUser(user)) {
    let plugin: Promise<InstanceType<typeof import("@kubernetes/client-node/dist/exec_auth.js").ExecAuth>> | undefined;
    return async (request) => {
      plugin ??= import("@kubernetes/client-node/dist/exec_auth.js").then(({ ExecAuth }) => new ExecAuth());
      const exec = await plugin;
      await exec.applyAuthentication(user, request as Parameters<typeof exec.applyAuthentication>[1]);
    };
  }
  const tokenFile = (user.authProvider as { config?: { tokenFile?: unknown } } | undefined)?.config?.tokenFile;
  if (tokenFile) return toTokenFileAuthenticator(String(tokenFile), options.now);
  return none;
}

/** Whether client-node's ExecAuth takes this user (its `isAuthProvider`): an `exec` entry or an exec auth-provider. */
function isExecUser(user: User): boolean {
  if (user.exec) return true;
  const provider = user.authProvider as { name?: unknown; config?: { exec?: unknown } } | undefined;
  return !!provider && (provider.name === "exec" || !!provider.config?.exec);
}

/** An `auth-provider` that only the full client implements, loaded on first use. */
function toLegacyAuthenticator(
  all: { clusters: Cluster[]; contexts: Context[]; users: User[]; currentContext: string },
): (options: KubeRequestOptions) => Promise<void> {
  let full: Promise<{ applyToHTTPSOptions(opts: KubeRequestOptions): Promise<void> }> | undefined;
  return async (options) => {
    full ??= import("@kubernetes/client-node").then(({ KubeConfig }) => {
      const config = new KubeConfig();
      config.loadFromOptions(all);
      return config;
    });
    const scratch: KubeRequestOptions = { headers: {} };
    await (await full).applyToHTTPSOptions(scratch);
    if (scratch.headers.Authorization !== undefined) options.headers.Authorization = scratch.headers.Authorization;
  };
}

/**
 * The bearer token of a file (the service account's, rotated by the kubelet), read again once it is older than
 * TOKEN_FILE_REREAD_MS, as client-node's FileAuth does; an empty file adds no header.
 */
function toTokenFileAuthenticator(path: string, now: () => number): (options: KubeRequestOptions) => Promise<void> {
  let token: string | undefined;
  let readAtMs = 0;
  return (options) => {
    if (token === undefined || now() - readAtMs > TOKEN_FILE_REREAD_MS) {
      token = Deno.readTextFileSync(path);
      readAtMs = now();
    }
    if (token) options.headers.Authorization = `Bearer ${token}`;
    return Promise.resolve();
  };
}

/** The service account's connection, as the full client's `loadFromCluster` builds it. */
function toInClusterConfig(env: Record<string, string | undefined>, serviceAccountDir: string) {
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  const port = env.KUBERNETES_SERVICE_PORT?.trim();
  if (!host || !port) throw new Error("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set in a pod");
  const scheme = port === "80" || port === "8080" || port === "8001" ? "http" : "https";
  const serverHost = host.includes(":") ? `[${host}]` : host;
  const cluster: Cluster = {
    name: "inCluster",
    caFile: `${serviceAccountDir}/ca.crt`,
    server: `${scheme}://${serverHost}:${port}`,
    skipTLSVerify: false,
  };
  const user: User = {
    name: "inClusterUser",
    authProvider: { name: "tokenFile", config: { tokenFile: `${serviceAccountDir}/token` } },
  };
  return {
    clusters: [cluster],
    users: [user],
    contexts: [{ name: "inClusterContext", cluster: cluster.name, user: user.name }] as Context[],
    currentContext: "inClusterContext" as string | undefined,
  };
}

function readPem(file: string | undefined, base64: string | undefined): Uint8Array | undefined {
  if (file) return Deno.readFileSync(file);
  if (base64) return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return undefined;
}

function toAbsolutePath(dir: string, file: string): string {
  return file.startsWith("/") ? file : `${dir}/${file}`;
}
