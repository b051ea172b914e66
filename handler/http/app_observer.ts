/**
 * What the HTTP app reports as it works, for metrics: one call per answered request and one per batch written
 * (committed or not). The telemetry wiring implements it; the app never depends on a metrics library.
 */
import type { EventRow } from "../../shared/contract/event_row.ts";
import type { LineError } from "../../shared/contract/line_error.ts";
import type { GapRecord } from "../../shared/contract/records.ts";
import type { BatchResult } from "../store/store.ts";

/** Bounded route names for labels. */
export type RouteName = "events" | "checkpoints" | "probe" | "metrics" | "other";

/** One batch after its write transaction: `result` and `committedAt` when committed, `failure` when not. */
export interface BatchOutcome {
  cluster: string;
  rows: readonly EventRow[];
  gaps: readonly GapRecord[];
  rejected: readonly LineError[];
  /** Seconds the write transaction took. */
  durationS: number;
  result?: BatchResult;
  committedAt?: Date;
  /** Why nothing was stored: the database was away, the writer was fenced, or another error. */
  failure?: "unavailable" | "fenced" | "error";
}

/** One answered request. */
export interface ResponseInfo {
  route: RouteName;
  status: number;
  /** Seconds from the request's arrival at the app to its response (for a batch: body read and write included). */
  durationS: number;
}

/** Receives reports; each method is optional and must not throw (a throw is logged and ignored). */
export interface AppObserver {
  onResponse?(info: ResponseInfo): void;
  onBatch?(outcome: BatchOutcome): void;
}

/** The route label of a path. */
export function toRouteName(path: string): RouteName {
  if (path === "/v1/events") return "events";
  if (path.startsWith("/v1/checkpoints/")) return "checkpoints";
  if (path === "/livez" || path === "/readyz") return "probe";
  if (path === "/metrics") return "metrics";
  return "other";
}
