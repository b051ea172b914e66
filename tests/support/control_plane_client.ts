/**
 * The helpers of a running test control plane that talk to it: API requests with a bearer token over its CA, kubectl,
 * ServiceAccount tokens, and etcd compaction.
 */
import type { ApiRequestInit, ControlPlane } from "./control_plane.ts";

/** What the helpers need to reach the control plane. */
export interface ControlPlaneClientContext {
  url: string;
  etcdUrl: string;
  adminToken: string;
  kubeconfigPath: string;
  kubectlPath: string;
  httpClient: Deno.HttpClient;
}

/** The parts of `ControlPlane` that talk to the running servers. */
export function createControlPlaneClient(
  context: ControlPlaneClientContext,
): Pick<ControlPlane, "apiFetch" | "apiJson" | "kubectl" | "createServiceAccountToken" | "compactEtcd"> {
  const apiFetch = (path: string, init: ApiRequestInit = {}) => {
    const { token = context.adminToken, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token !== null) headers.set("authorization", `Bearer ${token}`);
    if (rest.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
    return fetch(`${context.url}${path}`, { ...rest, headers, client: context.httpClient });
  };
  const apiJson = async <T = unknown>(path: string, init?: ApiRequestInit): Promise<T> => {
    const response = await apiFetch(path, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`Cannot ${init?.method ?? "GET"} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const kubectl = async (args: string[], options: { stdin?: string } = {}) => {
    const child = new Deno.Command(context.kubectlPath, {
      args: [`--kubeconfig=${context.kubeconfigPath}`, ...args],
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(`Cannot run kubectl ${args.join(" ")}: exit ${output.code}: ${decoder.decode(output.stderr)}`);
    }
    return decoder.decode(output.stdout);
  };
  const createServiceAccountToken = async (namespace: string, name: string, options: { expirationS?: number } = {}) => {
    const accounts = `/api/v1/namespaces/${namespace}/serviceaccounts`;
    const created = await apiFetch(accounts, {
      method: "POST",
      body: JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name } }),
    });
    const createdText = await created.text();
    if (!created.ok && created.status !== 409) {
      throw new Error(`Cannot create ServiceAccount ${namespace}/${name}: ${created.status} ${createdText}`);
    }
    const request = await apiJson<{ status: { token: string } }>(`${accounts}/${name}/token`, {
      method: "POST",
      body: JSON.stringify({
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: options.expirationS ?? 3600 },
      }),
    });
    return request.status.token;
  };
  const compactEtcd = async () => {
    const range = await fetch(`${context.etcdUrl}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: btoa("\0") }),
    });
    const { header } = await range.json() as { header?: { revision?: string } };
    if (!range.ok || !header?.revision) throw new Error(`Cannot read etcd's revision: ${range.status}`);
    const compaction = await fetch(`${context.etcdUrl}/v3/kv/compaction`, {
      method: "POST",
      body: JSON.stringify({ revision: header.revision, physical: true }),
    });
    const text = await compaction.text();
    if (!compaction.ok) throw new Error(`Cannot compact etcd at ${header.revision}: ${compaction.status} ${text}`);
    return Number(header.revision);
  };
  return { apiFetch, apiJson, kubectl, createServiceAccountToken, compactEtcd };
}
