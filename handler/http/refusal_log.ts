/**
 * Warnings for requests refused for their token (MISSING_TOKEN, INVALID_TOKEN, FORBIDDEN_CLUSTER): at most one line
 * per cluster and interval, with how many refusals it stands for, so a misconfigured relay is visible in the log
 * without one line per retry. Never a token value; the cluster is the one the request named (its checkpoint path) or
 * its token's, `null` when neither is known.
 */
import type { Logger } from "../../shared/telemetry/log.ts";

/** The codes that mean "refused for its token". */
export const TOKEN_REFUSAL_CODES: ReadonlySet<string> = new Set([
  "MISSING_TOKEN",
  "INVALID_TOKEN",
  "FORBIDDEN_CLUSTER",
]);

/** Clusters remembered at once; past it the memory starts over (a flood of made-up names cannot grow it). */
const CLUSTERS_MAX = 1_000;

export interface RefusalLogOptions {
  logger: Logger;
  /** Milliseconds between two lines for one cluster; 60,000 in the app. */
  intervalMs: number;
  /** Monotonic milliseconds; `performance.now` unless a test passes its own. */
  clockMs?: () => number;
}

/** Notes token refusals and logs at most one warning per cluster and interval. */
export class RefusalLog {
  readonly #last = new Map<string, { atMs: number; suppressed: number }>();
  readonly #clockMs: () => number;

  constructor(private readonly options: RefusalLogOptions) {
    this.#clockMs = options.clockMs ?? (() => performance.now());
  }

  /** Records one refusal with `code` for `cluster`; logs it unless this cluster was logged within the interval. */
  note(code: string, cluster: string | null): void {
    const key = cluster ?? "";
    const nowMs = this.#clockMs();
    const last = this.#last.get(key);
    if (last !== undefined && nowMs - last.atMs < this.options.intervalMs) {
      last.suppressed++;
      return;
    }
    if (this.#last.size >= CLUSTERS_MAX) this.#last.clear();
    this.#last.set(key, { atMs: nowMs, suppressed: 0 });
    this.options.logger.warn("request refused for its token", {
      code,
      cluster,
      refusedSinceLastLine: (last?.suppressed ?? 0) + 1,
    });
  }
}
