/**
 * Test controls that apply to every request: a response delay, injected failures, a stall of watch streams and the
 * log of answered requests.
 */

/** A failure to answer instead of the real response, `times` times, to requests that match. */
export interface ErrorRule {
  /** Upper-case HTTP method; any method when absent. */
  method?: string;
  /** Tested against the path with its query string, e.g. `/api/v1/events?watch=true&resourceVersion=12`. */
  pathPattern: RegExp;
  status: number;
  times: number;
}

/** One answered request. `path` includes the query string. */
export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
}

/** Entries kept in the request log; older ones are dropped first. */
const REQUEST_LOG_ENTRIES_MAX = 100_000;

/** The mutable control state the server consults for each request. */
export class Controls {
  latencyMs = 0;
  readonly requestLog: RequestLogEntry[] = [];
  readonly #rules: ErrorRule[] = [];
  #stalledUntilMs = 0;

  /** Queues a rule; rules are consulted in the order they were added. Throws RangeError on a bad rule. */
  addErrorRule(rule: ErrorRule): void {
    if (!Number.isInteger(rule.status) || rule.status < 400 || rule.status > 599) {
      throw new RangeError(`Cannot inject errors: status ${rule.status} is not an HTTP error status`);
    }
    if (!Number.isInteger(rule.times) || rule.times < 1) {
      throw new RangeError(`Cannot inject errors: times ${rule.times} is not a positive integer`);
    }
    this.#rules.push({ ...rule, method: rule.method?.toUpperCase() });
  }

  /** The status to fail this request with, consuming one use of the first matching rule, or undefined. */
  takeInjectedStatus(method: string, path: string): number | undefined {
    const index = this.#rules.findIndex((rule) =>
      (rule.method === undefined || rule.method === method) && rule.pathPattern.test(path)
    );
    if (index < 0) return undefined;
    const rule = this.#rules[index]!;
    rule.times--;
    if (rule.times === 0) this.#rules.splice(index, 1);
    return rule.status;
  }

  /** Records an answered request. */
  logRequest(entry: RequestLogEntry): void {
    if (this.requestLog.length >= REQUEST_LOG_ENTRIES_MAX) this.requestLog.splice(0, this.requestLog.length / 10);
    this.requestLog.push(entry);
  }

  /** Watches send nothing (no events, no bookmarks) until `durationMs` from now. */
  stallWatches(durationMs: number): void {
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new RangeError(`Cannot stall watches: ${durationMs} ms is not a non-negative duration`);
    }
    this.#stalledUntilMs = Math.max(this.#stalledUntilMs, Date.now() + durationMs);
  }

  /** Milliseconds the stall still lasts; 0 when watches may send. */
  stallRemainingMs(): number {
    return Math.max(0, this.#stalledUntilMs - Date.now());
  }
}
