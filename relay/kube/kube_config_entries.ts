/**
 * The kubeconfig `clusters`, `users` and `contexts` lists turned into client-node's `Cluster`, `User` and `Context`
 * shapes, with the same checks and messages as its `config_types.js` (`newClusters`, `newUsers`, `newContexts` with
 * the default THROW on an invalid entry). That module is not imported because it loads Node's `fs` layer for one
 * token-file read; a test compares both on the same entries.
 */
import type { Cluster, Context, User } from "@kubernetes/client-node/dist/config_types.js";

type Entry = Record<string, unknown> & { name?: unknown };
type Fields = Record<string, unknown>;

/** `clusters` entries; [] when `list` is not an array. Throws Error "clusters[i]... is missing" on an invalid entry. */
export function toClusters(list: unknown): Cluster[] {
  if (!Array.isArray(list)) return [];
  return list.map((entry: Entry, i) => {
    if (!entry.name) throw new Error(`clusters[${i}].name is missing`);
    const cluster = entry.cluster as Fields | undefined;
    if (!cluster) throw new Error(`clusters[${i}].cluster is missing`);
    if (!cluster.server) throw new Error(`clusters[${i}].cluster.server is missing`);
    return {
      caData: cluster["certificate-authority-data"],
      caFile: cluster["certificate-authority"],
      name: entry.name,
      server: (cluster.server as string).replace(/\/$/, ""),
      skipTLSVerify: cluster["insecure-skip-tls-verify"] === true,
      tlsServerName: cluster["tls-server-name"],
      proxyUrl: cluster["proxy-url"],
    } as Cluster;
  });
}

/** `users` entries; [] when `list` is not an array. Throws Error "users[i].name is missing" on an invalid entry. */
export function toUsers(list: unknown): User[] {
  if (!Array.isArray(list)) return [];
  return list.map((entry: Entry, i) => {
    if (!entry.name) throw new Error(`users[${i}].name is missing`);
    const user = entry.user as Fields | undefined;
    return {
      authProvider: user ? user["auth-provider"] : null,
      certData: user ? user["client-certificate-data"] : null,
      certFile: user ? user["client-certificate"] : null,
      exec: user ? user.exec : null,
      keyData: user ? user["client-key-data"] : null,
      keyFile: user ? user["client-key"] : null,
      name: entry.name,
      token: toToken(user),
      password: user ? user.password : null,
      username: user ? user.username : null,
      impersonateUser: user ? user.as : null,
    } as User;
  });
}

/** A user's static token: `token`, else the content of `token-file` (read once, as the full client does). */
function toToken(user: Fields | undefined): string | undefined {
  if (!user) return undefined;
  if (user.token) return user.token as string;
  if (user["token-file"]) return Deno.readTextFileSync(String(user["token-file"]));
  return undefined;
}

/** `contexts` entries; [] when `list` is not an array. Throws Error "contexts[i]... is missing" on an invalid entry. */
export function toContexts(list: unknown): Context[] {
  if (!Array.isArray(list)) return [];
  return list.map((entry: Entry, i) => {
    if (!entry.name) throw new Error(`contexts[${i}].name is missing`);
    const context = entry.context as Fields | undefined;
    if (!context) throw new Error(`contexts[${i}].context is missing`);
    if (!context.cluster) throw new Error(`contexts[${i}].context.cluster is missing`);
    return {
      cluster: context.cluster,
      name: entry.name,
      user: context.user || undefined,
      namespace: context.namespace || undefined,
    } as Context;
  });
}
