/**
 * The relay-to-handler HTTP contract: paths, headers and response bodies.
 */
import type { LineError } from "./line_error.ts";

export const EVENTS_PATH = "/v1/events";
export const CHECKPOINTS_PATH_PREFIX = "/v1/checkpoints/";
export const NDJSON_CONTENT_TYPE = "application/x-ndjson";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** resourceVersion the relay may resume its watch from once this batch is stored. Optional. */
export const RESUME_VERSION_HEADER = "ingester-resume-version";
/** Lease holder identity of the sending relay. Sent together with the transitions header, or neither. */
export const FENCE_HOLDER_HEADER = "ingester-fence-holder";
/** The Lease's `leaseTransitions` when the sender became leader: a non-negative integer. */
export const FENCE_TRANSITIONS_HEADER = "ingester-fence-transitions";

/** Body of a 200 answer to `POST /v1/events`. */
export interface IngestResponse {
  /** Event rows newly stored, plus gap records stored. */
  accepted: number;
  /** Valid event lines whose (global_uid, resource_version) was already stored, or repeated in the batch. */
  duplicates: number;
  rejected: LineError[];
}

/** Body of a 200 answer to `GET /v1/checkpoints/<cluster>`; nulls when the cluster has not written yet. */
export interface CheckpointResponse {
  cluster: string;
  resumeVersion: string | null;
  fence: Fence | null;
  updatedAt: string | null;
}

/** The writer's identity: who holds the Lease and its transition count when it became leader. */
export interface Fence {
  holder: string;
  transitions: number;
}

/** RFC 9457 problem body. `code` is stable and listed in handler/README.md. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
}
