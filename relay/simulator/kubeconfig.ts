/**
 * The kubeconfig text that points kubectl and `@kubernetes/client-node` at a simulator over plain http. The cluster
 * entry sets insecure-skip-tls-verify because client-node refuses a plain-http server without it.
 */

/** Names used for the cluster, user and context entries. */
const SIMULATOR_CONTEXT = "simulator";

/** A kubeconfig (YAML) for `url`, with `namespace` as the context's default namespace when given. */
export function toKubeconfig(url: string, options: { namespace?: string } = {}): string {
  const namespaceLine = options.namespace === undefined
    ? ""
    : `\n      namespace: ${JSON.stringify(options.namespace)}`;
  return `apiVersion: v1
kind: Config
clusters:
  - name: ${SIMULATOR_CONTEXT}
    cluster:
      server: ${JSON.stringify(url)}
      insecure-skip-tls-verify: true
users:
  - name: ${SIMULATOR_CONTEXT}
    user:
      token: simulator
contexts:
  - name: ${SIMULATOR_CONTEXT}
    context:
      cluster: ${SIMULATOR_CONTEXT}
      user: ${SIMULATOR_CONTEXT}${namespaceLine}
current-context: ${SIMULATOR_CONTEXT}
`;
}
