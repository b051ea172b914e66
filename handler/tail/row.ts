/**
 * What `deno task tail` reads of a `k8s_events` row: the columns a person wants on one line, plus the keys that
 * identify the row (event_id, global_uid) and order it (created_at).
 */

/** One stored event version, as `deno task tail` prints it. */
export interface TailRow {
  eventId: string;
  globalUid: string;
  /** The event version's own time (the row's created_at), at millisecond precision. */
  createdAt: Date;
  /** created_at as PostgreSQL prints it (microsecond precision): the exact key catch-up queries page on. */
  createdAtKey: string;
  clusterName: string;
  namespace: string | null;
  resourceKind: string | null;
  resourceName: string | null;
  eventType: string | null;
  reason: string | null;
  message: string | null;
}

/** The payload of one NOTIFY on channel `events`: which row was inserted. */
export interface RowKey {
  eventId: string;
  globalUid: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads a NOTIFY payload (`{"event_id" : "…", "global_uid" : "…"}` as `json_build_object(…)::text` writes it).
 * Returns undefined for any other payload, so a foreign notifier on the same channel cannot stop the tail.
 */
export function parseRowKey(payload: string): RowKey | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    // Not JSON: some other program notified on `events`; the caller skips it.
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { event_id: eventId, global_uid: globalUid } = value as Record<string, unknown>;
  if (typeof eventId !== "string" || !UUID.test(eventId) || typeof globalUid !== "string" || globalUid === "") {
    return undefined;
  }
  return { eventId: eventId.toLowerCase(), globalUid };
}
