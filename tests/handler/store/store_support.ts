/**
 * Helpers for the PostgreSQL store tests: rows, stores on a test schema, the Krateo schema fixture, and a LISTEN
 * on channel `events` filtered to one test's cluster.
 */
import postgres from "postgres";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import {
  createPostgresStore,
  type PostgresStore,
  type PostgresStoreOptions,
} from "../../../handler/store/postgres_store.ts";
import { testDatabaseUrl, withTestSchema } from "../../support/database.ts";
import { krateoPartitionDdl, krateoSchemaDdl, runInSchema } from "../../support/krateo_fixture.ts";

/** Fields of a test row to set; `createdAt` may also be a Date, which the row holds as its ISO text (UTC). */
export type RowOverrides = Omit<Partial<EventRow>, "createdAt"> & { createdAt?: Date | string };

/** A valid row of `cluster`; `n` makes uid and resourceVersion unique. */
export function makeRow(cluster: string, n: number, overrides: RowOverrides = {}): EventRow {
  const uid = `00000000-0000-4000-8000-${n.toString().padStart(12, "0")}`;
  const { createdAt = "2026-11-20T10:00:00.000000Z", ...fields } = overrides;
  return {
    createdAt: typeof createdAt === "string" ? createdAt : createdAt.toISOString(),
    clusterName: cluster,
    uid,
    globalUid: `${cluster}:${uid}`,
    namespace: "default",
    resourceKind: "v1.Pod",
    resourceName: `pod-${n}`,
    involvedObjectUid: `11111111-0000-4000-8000-${n.toString().padStart(12, "0")}`,
    eventType: "Normal",
    reason: "Pulled",
    message: `Successfully pulled image ${n}`,
    compositionId: null,
    raw: JSON.stringify({ metadata: { uid, resourceVersion: String(1000 + n) }, reason: "Pulled" }),
    resourceVersion: String(1000 + n),
    ...fields,
  };
}

/** A unique cluster name, so that notifications (database-wide) can be told apart between tests. */
export function uniqueCluster(): string {
  return `c-${crypto.randomUUID().slice(0, 12)}`;
}

/** A store on `schema` of the test database; `logs` receives its log lines. */
export function openStore(
  schema: string,
  overrides: Partial<PostgresStoreOptions> = {},
  logs: string[] = [],
): PostgresStore {
  return createPostgresStore({
    url: testDatabaseUrl(),
    schema,
    poolMax: 4,
    retentionDays: 0,
    connectTimeoutS: 5,
    logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
    ...overrides,
  });
}

/** The day of the partition applyKrateoSchema makes, as the stack's job would have. */
export const KRATEO_PARTITION_DAY = "2021-05-05";

/**
 * Creates the existing stack's `k8s_events` (tests/fixtures/krateo_schema.sql) in `schema`, with one partition
 * (KRATEO_PARTITION_DAY) made as the stack's partition job makes it.
 */
export async function applyKrateoSchema(sql: postgres.Sql, schema: string): Promise<void> {
  await runInSchema(sql, schema, await krateoSchemaDdl());
  await createKrateoPartition(sql, schema, KRATEO_PARTITION_DAY);
}

/**
 * Runs the stack's partition job for one day: the partition when missing, and each of its seven indexes when no
 * relation of that name exists.
 */
export async function createKrateoPartition(sql: postgres.Sql, schema: string, day: string): Promise<void> {
  await runInSchema(sql, schema, await krateoPartitionDdl(day));
}

/** Notifications on channel `events` whose global_uid belongs to one cluster, in arrival order. */
export interface NotificationLog {
  payloads: string[];
  /** Resolves once `count` payloads arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** LISTENs on `events` (a connection of its own) and keeps the payloads of `cluster`'s rows. */
export async function listenForCluster(cluster: string): Promise<NotificationLog> {
  const sql = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
  const payloads: string[] = [];
  let wake = () => {};
  await sql.listen("events", (payload) => {
    const parsed = JSON.parse(payload) as { global_uid?: string };
    if (parsed.global_uid?.startsWith(`${cluster}:`)) {
      payloads.push(payload);
      wake();
    }
  });
  return {
    payloads,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (payloads.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`Cannot see ${count} notifications: ${payloads.length} arrived within ${timeoutMs} ms`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    close: () => sql.end({ timeout: 1 }),
  };
}

/** Where `k8s_events` comes from in a test: created by the store's migrations, or the existing Krateo DDL first. */
export type SchemaPath = "created by the store" | "existing Krateo schema";

/** Runs `fn` with a migrated store in a fresh schema built along `path`; closes the store and drops the schema. */
export async function withStore(
  path: SchemaPath,
  fn: (store: PostgresStore, sql: postgres.Sql, schema: string) => Promise<void>,
): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    if (path === "existing Krateo schema") await applyKrateoSchema(sql, schema);
    const store = openStore(schema);
    try {
      await store.migrate();
      await fn(store, sql, schema);
    } finally {
      await store.close();
    }
  });
}
