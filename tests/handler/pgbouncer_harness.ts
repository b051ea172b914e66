/**
 * Harness of the PgBouncer tests: the real handler start sequence (`prepareHandler`: wait for the database, migrate)
 * with DATABASE_URL pointing at a real PgBouncer in transaction pooling mode, served on a real socket, plus an admin
 * connection straight to PostgreSQL and a sender that retries as the relay does.
 */
import type postgres from "postgres";
import { type PreparedHandler, prepareHandler } from "../../handler/start.ts";
import { serveApp } from "../../handler/http/server.ts";
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { encodeNdjson } from "../../shared/contract/ndjson.ts";
import {
  CHECKPOINTS_PATH_PREFIX,
  EVENTS_PATH,
  type IngestResponse,
  RESUME_VERSION_HEADER,
} from "../../shared/contract/protocol.ts";
import type { EventRecord, GapRecord } from "../../shared/contract/records.ts";
import { withTestSchema } from "../support/database.ts";
import { gzip } from "../support/gzip.ts";
import { type Pgbouncer, type PgbouncerOptions, startPgbouncer } from "../support/pgbouncer.ts";
import { uniqueCluster } from "./store/store_support.ts";

/** A cluster the handler takes batches from, with its token. */
export interface TestCluster {
  name: string;
  token: string;
}

/** A handler running behind PgBouncer, and what a test needs around it. */
export interface PooledHandler {
  baseUrl: string;
  handler: PreparedHandler;
  pgbouncer: Pgbouncer;
  /** Admin connection straight to PostgreSQL (not through PgBouncer). */
  sql: postgres.Sql;
  schema: string;
  /** Two clusters with unique names, so notifications (database-wide) can be told apart from other tests'. */
  clusters: [TestCluster, TestCluster];
  logs: string[];
}

/**
 * Runs `fn` with a handler whose DATABASE_URL is a PgBouncer started for the test (see PgbouncerOptions), on a fresh
 * schema; `env` adds handler settings. Stops the handler, then PgBouncer, then drops the schema.
 */
export async function withPooledHandler(
  options: PgbouncerOptions & { env?: Record<string, string> },
  fn: (pooled: PooledHandler) => Promise<void>,
): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    const pgbouncer = await startPgbouncer(options);
    const clusters: [TestCluster, TestCluster] = [
      { name: uniqueCluster(), token: crypto.randomUUID() },
      { name: uniqueCluster(), token: crypto.randomUUID() },
    ];
    const hashes = await Promise.all(clusters.map(async (c) => `${c.name}=${await toTokenHashHex(c.token)}`));
    const logs: string[] = [];
    try {
      const handler = await prepareHandler({
        DATABASE_URL: pgbouncer.url,
        DB_SCHEMA: schema,
        DB_POOL_MAX: "4",
        RETENTION_DAYS: "0",
        DB_READY_TIMEOUT: "20s",
        CLUSTER_TOKEN_HASHES: hashes.join(","),
        ...options.env,
      }, { write: (line) => logs.push(line) });
      const controller = new AbortController();
      const serving = serveApp({
        app: handler.app,
        port: 0,
        hostname: "127.0.0.1",
        shutdownDeadlineS: 5,
        logger: handler.logger,
        signal: controller.signal,
      });
      try {
        await fn({ baseUrl: `http://127.0.0.1:${serving.port}`, handler, pgbouncer, sql, schema, clusters, logs });
      } finally {
        controller.abort();
        await serving.finished;
        await handler.store.close();
        await handler.telemetry.shutdown();
      }
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- pgbouncer log ---\n${pgbouncer.log()}`, { cause: error });
    } finally {
      await pgbouncer.stop();
    }
  });
}

/** One answer of `POST /v1/events`. */
export interface PostAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Sends the records as one gzip NDJSON batch of `cluster` over HTTP; `resumeVersion` goes in its header. */
export async function postBatch(
  pooled: PooledHandler,
  cluster: TestCluster,
  records: readonly (EventRecord | GapRecord)[],
  options: { resumeVersion?: string } = {},
): Promise<PostAnswer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${cluster.token}`,
    "content-type": "application/x-ndjson",
    "content-encoding": "gzip",
  };
  if (options.resumeVersion !== undefined) headers[RESUME_VERSION_HEADER] = options.resumeVersion;
  const response = await fetch(`${pooled.baseUrl}${EVENTS_PATH}`, {
    method: "POST",
    headers,
    body: await gzip(encodeNdjson([...records])),
  });
  return { status: response.status, body: await response.json() };
}

/**
 * Sends the batch until it is answered 200, as the relay does: 5xx and 429 are retried after `retryDelayMs` (100), for
 * at most `timeoutMs` (60 s); any other status throws. Every answer's status is pushed onto `statuses`.
 */
export async function postUntilStored(
  pooled: PooledHandler,
  cluster: TestCluster,
  records: readonly (EventRecord | GapRecord)[],
  options: { resumeVersion?: string; statuses: number[]; retryDelayMs?: number; timeoutMs?: number },
): Promise<IngestResponse> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (true) {
    const answer = await postBatch(pooled, cluster, records, options);
    options.statuses.push(answer.status);
    if (answer.status === 200) return answer.body as unknown as IngestResponse;
    if (answer.status < 500 && answer.status !== 429) {
      throw new Error(`Cannot store the batch: answered ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    if (Date.now() > deadline) throw new Error(`Cannot store the batch: still ${answer.status} after the timeout`);
    await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 100));
  }
}

/** `GET /v1/checkpoints/<cluster>`: the stored resume version. */
export async function readResumeVersion(pooled: PooledHandler, cluster: TestCluster): Promise<unknown> {
  const response = await fetch(`${pooled.baseUrl}${CHECKPOINTS_PATH_PREFIX}${cluster.name}`, {
    headers: { authorization: `Bearer ${cluster.token}` },
  });
  const body = await response.json();
  if (response.status !== 200) {
    throw new Error(`Cannot read the checkpoint: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.resumeVersion;
}

/** The `global_uid/resource_version` keys of the clusters' stored rows, read straight from PostgreSQL, sorted. */
export async function storedKeys(pooled: PooledHandler, clusters: readonly TestCluster[]): Promise<string[]> {
  const rows = await pooled.sql.unsafe<{ key: string }[]>(
    `select global_uid || '/' || resource_version as key from "${pooled.schema}".k8s_events
      where cluster_name = any($1::text[])`,
    [clusters.map((c) => c.name)] as never[],
  );
  return rows.map((row) => row.key).sort();
}
