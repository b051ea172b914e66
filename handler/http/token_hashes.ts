/**
 * Cluster tokens as configured: only their SHA-256 hashes, one or more per cluster, written as
 * `cluster-a=<64 hex digits>` pairs separated by commas or line ends (CLUSTER_TOKEN_HASHES, or a mounted Secret
 * named by CLUSTER_TOKEN_HASHES_FILE).
 */
import { isClusterName } from "../../shared/contract/record_parser.ts";

/** One accepted token: the cluster it writes for and the lowercase hex SHA-256 of the token text. */
export interface ClusterTokenHash {
  cluster: string;
  sha256Hex: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Parses `cluster=<sha256 hex>` pairs separated by commas or line ends; blank entries and lines starting with `#`
 * are skipped. Each bad entry adds one sentence to `problems` (naming `source` and the entry number, never the
 * value, which may be a token pasted by mistake) and is left out.
 */
export function parseTokenHashes(text: string, options: { source: string; problems: string[] }): ClusterTokenHash[] {
  const entries = text.split(/[,\r\n]+/).map((entry) => entry.trim()).filter((e) => e !== "" && !e.startsWith("#"));
  const hashes: ClusterTokenHash[] = [];
  entries.forEach((entry, index) => {
    const at = entry.indexOf("=");
    const cluster = at === -1 ? "" : entry.slice(0, at).trim();
    const hex = at === -1 ? "" : entry.slice(at + 1).trim();
    if (at === -1) {
      options.problems.push(`${options.source}: entry ${index + 1} is not "cluster=<sha256 hex>"`);
    } else if (!isClusterName(cluster as unknown)) {
      options.problems.push(
        `${options.source}: entry ${index + 1} names "${cluster.slice(0, 60)}", which is not a cluster name`,
      );
    } else if (!SHA256_HEX.test(hex)) {
      options.problems.push(`${options.source}: entry ${index + 1} (cluster "${cluster}") is not 64 hex digits`);
    } else {
      hashes.push({ cluster, sha256Hex: hex.toLowerCase() });
    }
  });
  return hashes;
}

/** The lowercase hex SHA-256 of a token's UTF-8 text: what CLUSTER_TOKEN_HASHES holds for it. */
export async function toTokenHashHex(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
