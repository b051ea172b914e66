/**
 * The cluster name when CLUSTER_NAME is not set: derived from the uid of the kube-system namespace, which every
 * cluster has, which never changes while the cluster exists, and which every relay replica reads the same.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import { toBackoffMs } from "../../shared/backoff.ts";
import type { KubeApi } from "./kube_api.ts";

/** `cluster-<kube-system uid>`, for example `cluster-6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00`. */
export function toDetectedClusterName(kubeSystemUid: string): string {
  return `cluster-${kubeSystemUid.toLowerCase()}`;
}

/**
 * Reads the kube-system namespace uid, retrying with backoff until it succeeds or `signal` aborts (the API server
 * may not be reachable yet when the relay starts).
 */
export async function detectClusterName(options: {
  kube: Pick<KubeApi, "getNamespaceUid">;
  logger: Logger;
  signal: AbortSignal;
  backoffMaxMs: number;
  delay?: Delay;
}): Promise<string> {
  const delay = options.delay ?? realDelay;
  for (let attempt = 0;; attempt++) {
    try {
      return toDetectedClusterName(await options.kube.getNamespaceUid("kube-system", options.signal));
    } catch (error) {
      if (options.signal.aborted) throw error;
      options.logger.warn("cannot read the kube-system namespace to name the cluster, retrying", {
        error: describeError(error),
        attempt: attempt + 1,
      });
      await delay(toBackoffMs(attempt, { baseMs: 500, maxMs: options.backoffMaxMs }), options.signal);
    }
  }
}
