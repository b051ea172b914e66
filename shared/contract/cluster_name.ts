/**
 * What a cluster name may be. Its own module so that the relay's configuration checks a name without loading the
 * record parser.
 */

/** Cluster names become part of `global_uid` (`<cluster>:<uid>`), so a colon is not allowed in them. */
const CLUSTER_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/** True when `name` can be a cluster name: 1-253 letters, digits, `.`, `_`, `-`, starting and ending alphanumeric. */
export function isClusterName(name: unknown): name is string {
  return typeof name === "string" && CLUSTER_NAME.test(name);
}
