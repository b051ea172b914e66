/**
 * The PostgreSQL side of `deno task tail`: one dedicated postgres.js connection per session that LISTENs on
 * `events` and reads rows from `k8s_events`. The only tail file that imports postgres.js; all SQL is static text
 * with parameters.
 */
import postgres from "postgres";
import type { TailFilter } from "./filter.ts";
import type { RowCursor, TailConnection, TailSource } from "./follower.ts";
import type { RowKey, TailRow } from "./row.ts";
import { NOTIFY_CHANNEL } from "../store/schema/migrations.ts";

export interface PostgresTailSourceOptions {
  /** postgres:// URL of the database that holds `k8s_events`. */
  databaseUrl: string;
  /** Schema of `k8s_events` (put first on the connection's search_path). */
  schema: string;
  /** Longest wait for a connection to open, in seconds. */
  connectTimeoutS: number;
  /** `application_name` of the connection, as pg_stat_activity shows it. */
  applicationName?: string;
}

interface RawRow {
  event_id: string;
  global_uid: string;
  created_at: Date;
  created_at_key: string;
  cluster_name: string;
  namespace: string | null;
  resource_kind: string | null;
  resource_name: string | null;
  event_type: string | null;
  reason: string | null;
  message: string | null;
}

function toTailRow(raw: RawRow): TailRow {
  return {
    eventId: raw.event_id,
    globalUid: raw.global_uid,
    createdAt: raw.created_at,
    createdAtKey: raw.created_at_key,
    clusterName: raw.cluster_name,
    namespace: raw.namespace,
    resourceKind: raw.resource_kind,
    resourceName: raw.resource_name,
    eventType: raw.event_type,
    reason: raw.reason,
    message: raw.message,
  };
}

/** Options postgres.js reads but its type declarations leave out. */
type ConnectionOptions = postgres.Options<Record<string, never>> & {
  onnotify: (channel: string, payload: string) => void;
};

/** A TailSource over postgres.js. Each `connect()` opens its own connection; nothing is shared between sessions. */
export function createPostgresTailSource(options: PostgresTailSourceOptions): TailSource {
  return {
    async connect({ onNotify, signal }) {
      signal.throwIfAborted();
      const { promise: lost, reject: markLost } = Promise.withResolvers<never>();
      // The follower races `lost`; when connecting fails nobody does, and the rejection must not go unhandled.
      lost.catch(() => {});
      let isClosing = false;
      const connectionOptions: ConnectionOptions = {
        max: 1,
        idle_timeout: 0,
        max_lifetime: null,
        connect_timeout: options.connectTimeoutS,
        connection: {
          application_name: options.applicationName ?? "events-ingester-tail",
          search_path: options.schema,
        },
        onnotice: () => {},
        onnotify: (channel, payload) => {
          if (channel === NOTIFY_CHANNEL) onNotify(payload);
        },
        onclose: () => {
          if (!isClosing) markLost(new Error("Cannot follow events: the database connection closed"));
        },
      };
      const sql = postgres(options.databaseUrl, connectionOptions);
      const close = async () => {
        isClosing = true;
        await sql.end({ timeout: 1 });
      };
      // Ctrl-C while the database does not answer must not wait for connect_timeout.
      const onAbort = () => void close();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await sql.unsafe(`listen ${NOTIFY_CHANNEL}`);
      } catch (error) {
        await close();
        throw new Error(`Cannot listen on channel ${NOTIFY_CHANNEL}: ${(error as Error).message}`, { cause: error });
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      return createConnection(sql, lost, close);
    },
  };
}

function createConnection(sql: postgres.Sql, lost: Promise<never>, close: () => Promise<void>): TailConnection {
  return {
    lost,
    close,
    async readRowsPage(options: { from: Date; after: RowCursor | null; filter: TailFilter; limit: number }) {
      const { from, after, filter, limit } = options;
      // The cursor goes in as text: typed as timestamptz, postgres.js would pass it through a Date and lose microseconds.
      const rows = await sql<RawRow[]>`
        select event_id::text as event_id, global_uid, created_at, created_at::text as created_at_key, cluster_name,
          namespace, resource_kind, resource_name, event_type, reason, message
        from k8s_events
        where created_at >= ${from}
          and (${after?.createdAtKey ?? null}::text::timestamptz is null
            or (created_at, event_id) > (${after?.createdAtKey ?? null}::text::timestamptz, ${
        after?.eventId ?? null
      }::uuid))
          and (cardinality(${sql.array([...filter.clusters])}::text[]) = 0
            or cluster_name = any(${sql.array([...filter.clusters])}::text[]))
          and (cardinality(${sql.array([...filter.namespaces])}::text[]) = 0
            or namespace = any(${sql.array([...filter.namespaces])}::text[]))
          and (cardinality(${sql.array([...filter.types])}::text[]) = 0
            or event_type = any(${sql.array([...filter.types])}::text[]))
          and (cardinality(${sql.array([...filter.reasons])}::text[]) = 0
            or reason = any(${sql.array([...filter.reasons])}::text[]))
        order by created_at, event_id
        limit ${limit}`;
      return rows.map(toTailRow);
    },
    async readRowsByKeys(keys: readonly RowKey[]) {
      if (keys.length === 0) return [];
      const rows = await sql<RawRow[]>`
        select event_id::text as event_id, global_uid, created_at, created_at::text as created_at_key, cluster_name,
          namespace, resource_kind, resource_name, event_type, reason, message
        from k8s_events
        where global_uid = any(${sql.array(keys.map((key) => key.globalUid))}::text[])
          and event_id = any(${sql.array(keys.map((key) => key.eventId))}::uuid[])`;
      return rows.map(toTailRow);
    },
  };
}
