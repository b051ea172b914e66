/**
 * A real Kubernetes control plane for tests, on loopback only: etcd, kube-apiserver (RBAC on, events with a
 * configurable TTL) and, when asked, kube-controller-manager and kube-scheduler, all built from source by
 * `tests/tools/build_tools.sh` (`deno task tools`). Every process writes its log into the control plane's temp folder;
 * `stop()` kills them and removes the folder, and a watchdog does the same if the test process dies first.
 *
 * Tests use `controlPlaneTest`, which skips them (with a message) when the binaries are not built and Go is not on
 * PATH to build them, and fails them instead when `CI=true`, so CI can never skip them silently.
 */
import { createControlPlaneClient } from "./control_plane_client.ts";
import {
  startApiServer,
  startControllerManager,
  startEtcd,
  startScheduler,
  type StartState,
  stopAll,
} from "./control_plane_components.ts";
import { createPki } from "./kube_pki.ts";
import { readLogTails, Watchdog } from "./kube_processes.ts";
import { ensureTools, findToolAvailability, type ToolAvailability, type Tools } from "./kube_tools.ts";

/** How to start a control plane; every field is optional. */
export interface ControlPlaneOptions {
  /** Seconds an Event lives after its last write (kube-apiserver `--event-ttl`). Default 120. */
  eventTtlS?: number;
  /**
   * Also start kube-controller-manager with every controller (`--controllers=*`), per-controller service-account
   * credentials, no leader election, and the CA and service-account key so it can publish the root CA and mint
   * tokens. Start returns once it has created the `default` ServiceAccount. Default false.
   */
  hasControllerManager?: boolean;
  /**
   * Also start kube-scheduler (no leader election, no serving port). There is no node and no kubelet, so it reports
   * FailedScheduling for every Pod and Pods stay Pending. Default false.
   */
  hasScheduler?: boolean;
  /** Run `build_tools.sh` when a binary is missing (minutes on a cold cache); false: throw instead. Default true. */
  isBuildAllowed?: boolean;
  /** Longest wait, in milliseconds, for each component to become ready. Default 60,000. */
  readyTimeoutMs?: number;
  /** IPv4 range of Service IPs (`--service-cluster-ip-range`). Default "10.0.0.0/24". */
  serviceClusterIpRange?: string;
  /** More kube-apiserver flags, placed after ours (for a repeated flag the later one wins). Default none. */
  apiServerArgs?: string[];
}

/** `fetch` options plus the bearer token to send (default: the admin token; `null`: none, anonymous). */
export type ApiRequestInit = RequestInit & { token?: string | null };

/** A running control plane. */
export interface ControlPlane {
  /** The API server, `https://127.0.0.1:<port>`. */
  url: string;
  /** etcd's client URL, `http://127.0.0.1:<port>` (plain HTTP on loopback; the v3 JSON gateway answers there). */
  etcdUrl: string;
  /** The CA that signed the API server's certificate: file and PEM. */
  caFile: string;
  caPem: string;
  /** A kubeconfig (JSON, CA embedded) for the admin user, for `kubectl --kubeconfig` and client libraries. */
  kubeconfigPath: string;
  /** Bearer token of the admin user (group system:masters). */
  adminToken: string;
  /** Versions and paths of the binaries in use. */
  tools: Tools;
  /** The temp folder: PKI, kubeconfigs, etcd data and one `<component>.log` per process. Removed by `stop()`. */
  dir: string;
  /** An HTTP client that trusts the CA, for `fetch(url, { client })`. Closed by `stop()`. */
  httpClient: Deno.HttpClient;
  /** `fetch` of a path of the API server (e.g. `/api/v1/events`), trusting its CA, with a bearer token. */
  apiFetch(path: string, init?: ApiRequestInit): Promise<Response>;
  /** `apiFetch` that parses the JSON answer; throws with the status and body when it is not 2xx. */
  apiJson<T = unknown>(path: string, init?: ApiRequestInit): Promise<T>;
  /** Runs the built kubectl against this control plane as admin; resolves to stdout, throws on a non-zero exit. */
  kubectl(args: string[], options?: { stdin?: string }): Promise<string>;
  /**
   * A token for ServiceAccount `namespace/name` from the TokenRequest API (creating the ServiceAccount when it does
   * not exist), valid for `expirationS` seconds (default 3,600; the API server's minimum is 600).
   */
  createServiceAccountToken(namespace: string, name: string, options?: { expirationS?: number }): Promise<string>;
  /**
   * Compacts etcd's history up to its current revision R (physically) through etcd's JSON gateway. Resolves to R.
   * Afterwards an exact list at a resourceVersion below R, and a watch from a resourceVersion below R - 1 (it resumes
   * at the next revision, which must still exist), are answered 410 Expired. Events have no watch cache in the API
   * server, so their watches see etcd's compaction directly.
   */
  compactEtcd(): Promise<number>;
  /**
   * Stops every process (kube-apiserver with SIGKILL, the others with SIGTERM, then SIGKILL after 10 s) and removes
   * `dir`. Safe to call more than once.
   */
  stop(): Promise<void>;
}

type Settings = Required<ControlPlaneOptions>;

const DEFAULTS: Settings = {
  eventTtlS: 120,
  hasControllerManager: false,
  hasScheduler: false,
  isBuildAllowed: true,
  readyTimeoutMs: 60_000,
  serviceClusterIpRange: "10.0.0.0/24",
  apiServerArgs: [],
};

/** The first address of an IPv4 CIDR range: the ClusterIP of the `kubernetes` Service. */
export function toFirstServiceIp(range: string): string {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(range);
  const octets = match?.slice(1, 5).map(Number) ?? [];
  const prefix = Number(match?.[5]);
  if (!match || octets.some((octet) => octet > 255) || prefix < 8 || prefix > 30) {
    throw new RangeError(`Cannot use service range ${JSON.stringify(range)}: expected an IPv4 CIDR with /8 to /30`);
  }
  const base = octets.reduce((value, octet) => value * 256 + octet, 0);
  const first = base - (base % 2 ** (32 - prefix)) + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join(".");
}

function randomToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A kubeconfig (JSON is YAML) for one token user of the control plane at `url`. */
export function toKubeconfig(options: { url: string; caPem: string; user: string; token: string }): string {
  const caData = btoa(options.caPem);
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "events-ingester-test",
        cluster: { server: options.url, "certificate-authority-data": caData },
      }],
      users: [{ name: options.user, user: { token: options.token } }],
      contexts: [{ name: "events-ingester-test", context: { cluster: "events-ingester-test", user: options.user } }],
      "current-context": "events-ingester-test",
    },
    null,
    2,
  );
}

/** A static-token user of the control plane, with the kubeconfig file written for it. */
interface TokenUser {
  user: string;
  groups: string;
  token: string;
  kubeconfigPath: string;
}

/**
 * New tokens for the admin (system:masters) and for the controllers, under the user names the API server's
 * bootstrap RBAC policy binds their roles to.
 */
function createTokenUsers(dir: string): { admin: TokenUser; controllerManager: TokenUser; scheduler: TokenUser } {
  const user = (name: string, groups: string, file: string) => ({
    user: name,
    groups,
    token: randomToken(),
    kubeconfigPath: `${dir}/${file}`,
  });
  return {
    admin: user("events-ingester-admin", "system:masters", "admin.kubeconfig"),
    controllerManager: user("system:kube-controller-manager", "", "controller-manager.kubeconfig"),
    scheduler: user("system:kube-scheduler", "", "scheduler.kubeconfig"),
  };
}

/** The API server's `--token-auth-file`: `token,user,uid,"groups"` lines. */
function toTokenFile(users: TokenUser[]): string {
  return users.map(({ token, user, groups }) => `${token},${user},${user},"${groups}"\n`).join("");
}

/**
 * Starts a control plane (see `ControlPlaneOptions`), building the binaries first when they are missing and
 * building is allowed. Throws when a component does not become ready in time; the message then ends with the last
 * lines of every component's log, and everything started so far is stopped.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const settings: Settings = { ...DEFAULTS, ...options };
  const serviceIp = toFirstServiceIp(settings.serviceClusterIpRange);
  const tools = await ensureTools({ isBuildAllowed: settings.isBuildAllowed });
  const dir = await Deno.makeTempDir({ prefix: "events-ingester-kube-" });
  const state: StartState = { tools, settings, dir, watchdog: new Watchdog(dir), processes: [] };
  let isStopped = false;
  const stop = async () => {
    if (isStopped) return;
    isStopped = true;
    await stopAll(state);
  };
  try {
    const pki = await createPki(dir, { serviceIp });
    const httpClient = Deno.createHttpClient({ caCerts: [pki.caPem] });
    state.httpClient = httpClient;
    const etcdUrl = await startEtcd(state);
    const users = createTokenUsers(dir);
    const { admin, controllerManager, scheduler } = users;
    const tokenFile = `${dir}/tokens.csv`;
    await Deno.writeTextFile(tokenFile, toTokenFile(Object.values(users)));
    const url = await startApiServer(state, { pki, etcdUrl, tokenFile, adminToken: admin.token });
    for (const { user, token, kubeconfigPath } of Object.values(users)) {
      await Deno.writeTextFile(kubeconfigPath, toKubeconfig({ url, caPem: pki.caPem, user, token }));
    }
    const kubeconfigPath = admin.kubeconfigPath;
    const helpers = createControlPlaneClient({
      url,
      etcdUrl,
      adminToken: admin.token,
      kubeconfigPath,
      kubectlPath: tools.kubectl.path,
      httpClient,
    });
    if (settings.hasControllerManager) {
      await startControllerManager(state, {
        pki,
        kubeconfigPath: controllerManager.kubeconfigPath,
        isReady: async () => {
          const response = await helpers.apiFetch("/api/v1/namespaces/default/serviceaccounts/default");
          await response.body?.cancel();
          return response.ok;
        },
      });
    }
    if (settings.hasScheduler) await startScheduler(state, scheduler.kubeconfigPath);
    return {
      url,
      etcdUrl,
      caFile: pki.caCertFile,
      caPem: pki.caPem,
      kubeconfigPath,
      adminToken: admin.token,
      tools,
      dir,
      httpClient,
      ...helpers,
      stop,
    };
  } catch (error) {
    const logs = await readLogTails(state.processes);
    await stop();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot start the control plane: ${message}\n${logs}`, { cause: error });
  }
}

/** Runs `fn` with a new control plane and stops it afterwards, whether `fn` succeeds or throws. */
export async function withControlPlane<T>(
  options: ControlPlaneOptions,
  fn: (plane: ControlPlane) => Promise<T>,
): Promise<T> {
  const plane = await startControlPlane(options);
  try {
    return await fn(plane);
  } finally {
    await plane.stop();
  }
}

/**
 * What a control plane test does on this machine: run; skip (`ignore`, with `message` saying why) when the
 * binaries are missing and cannot be built; or, in CI, fail with `failure` instead of skipping.
 */
export function toControlPlaneTestMode(
  availability: ToolAvailability,
  isCi: boolean,
): { ignore: boolean; message?: string; failure?: string } {
  if (availability.state !== "missing") return { ignore: false };
  if (isCi) return { ignore: false, failure: `Cannot run control plane tests with CI=true: ${availability.message}` };
  return { ignore: true, message: `control plane tests skipped: ${availability.message}` };
}

let testMode: ReturnType<typeof toControlPlaneTestMode> | undefined;

/**
 * `Deno.test` for a test that needs the control plane's binaries but starts (or does not start) control planes
 * itself. Skipped (reported as ignored, with a message on stderr) when the binaries are missing and Go is not on PATH,
 * except with `CI=true`, where such a test fails. Op and resource sanitizers are off: child processes' pipes and
 * status promises outlive single ops by design.
 */
export function controlPlaneToolsTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  if (!testMode) {
    testMode = toControlPlaneTestMode(findToolAvailability(), Deno.env.get("CI") === "true");
    if (testMode.message) console.error(testMode.message);
  }
  const { ignore, failure } = testMode;
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      if (failure) throw new Error(failure);
      await fn(t);
    },
  });
}

/** `controlPlaneToolsTest` that starts a control plane with `options`, runs `fn` with it, and stops it. */
export function controlPlaneTest(
  name: string,
  options: ControlPlaneOptions,
  fn: (plane: ControlPlane, t: Deno.TestContext) => Promise<void>,
): void {
  controlPlaneToolsTest(name, (t) => withControlPlane(options, (plane) => fn(plane, t)));
}
