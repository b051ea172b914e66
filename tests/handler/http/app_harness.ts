/**
 * Test harness for the HTTP app: a real PostgreSQL store on a fresh schema, migrated, behind `createApp`, with two
 * clusters' tokens, plus helpers to build records, send them and read back what is stored.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { type App, createApp } from "../../../handler/http/app.ts";
import { type HandlerConfig, loadHandlerConfig } from "../../../handler/config.ts";
import { createPostgresStore, type PostgresStore } from "../../../handler/store/postgres_store.ts";
import { toTokenHashHex } from "../../../handler/http/token_hashes.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { encodeNdjson } from "../../../shared/contract/ndjson.ts";
import type { IngestResponse } from "../../../shared/contract/protocol.ts";
import type { EventRecord, GapRecord } from "../../../shared/contract/records.ts";
import { testDatabaseUrl, withTestSchema } from "../../support/database.ts";
import { gzip } from "../../support/gzip.ts";

export const CLUSTER = "cluster-a";
export const OTHER_CLUSTER = "cluster-b";
export const TOKEN = "token-of-cluster-a";
export const OTHER_TOKEN = "token-of-cluster-b";

export interface AppHarness {
  app: App;
  store: PostgresStore;
  config: HandlerConfig;
  /** Admin connection to the test database. */
  sql: postgres.Sql;
  schema: string;
  /** Log lines of app and store. */
  logs: string[];
}

/** The environment a test app is configured from (DATABASE_URL, DB_SCHEMA, both clusters' token hashes). */
export async function testEnv(schema: string): Promise<Record<string, string>> {
  return {
    DATABASE_URL: testDatabaseUrl(),
    DB_SCHEMA: schema,
    DB_POOL_MAX: "4",
    RETENTION_DAYS: "0",
    CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await toTokenHashHex(TOKEN)},${OTHER_CLUSTER}=${await toTokenHashHex(
      OTHER_TOKEN,
    )}`,
  };
}

/** Runs `fn` against an app on a fresh, migrated schema; `env` overrides configuration (limits, for example). */
export async function withApp(
  fn: (harness: AppHarness) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    const config = loadHandlerConfig({ ...await testEnv(schema), ...env });
    const logs: string[] = [];
    const logger = createLogger({ isDebug: true, write: (line) => logs.push(line) });
    const store = createPostgresStore({
      url: config.databaseUrl,
      schema,
      poolMax: config.dbPoolMax,
      retentionDays: 0,
      connectTimeoutS: 5,
      logger,
    });
    try {
      await store.migrate();
      await fn({ app: createApp({ config, store, logger }), store, config, sql, schema, logs });
    } finally {
      await store.close();
    }
  });
}

let sequence = 0;

/** A valid event record of `cluster` with a fresh uid; `n` picks the minute of 2026-11-20 it happened at. */
export function eventRecord(options: { cluster?: string; uid?: string; resourceVersion?: string } = {}): EventRecord {
  sequence++;
  const uid = options.uid ?? crypto.randomUUID();
  return {
    v: 1,
    kind: "event",
    cluster: options.cluster ?? CLUSTER,
    observedAt: "2026-11-20T10:00:05Z",
    event: {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name: `web-${sequence}.1879a`,
        namespace: "shop",
        uid,
        resourceVersion: options.resourceVersion ?? String(1000 + sequence),
        creationTimestamp: "2026-11-20T10:00:00Z",
        managedFields: [{ manager: "kubelet", operation: "Update" }],
      },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: `web-${sequence}`, namespace: "shop", uid: `pod-${uid}` },
      reason: "Pulled",
      message: "Successfully pulled image",
      type: "Normal",
      count: 1,
      firstTimestamp: "2026-11-20T10:00:00Z",
      lastTimestamp: "2026-11-20T10:00:01Z",
      source: { component: "kubelet" },
    },
    enrichment: { labels: { app: "web" } },
  };
}

/** A gap record of `cluster`. */
export function gapRecord(cluster = CLUSTER): GapRecord {
  return {
    v: 1,
    kind: "gap",
    cluster,
    from: "100",
    to: "250",
    reason: "WATCH_EXPIRED",
    observedAt: "2026-11-20T10:00:00Z",
  };
}

/** NDJSON text of the records, each line as given when it is a string. */
export function ndjson(lines: (object | string)[]): string {
  return lines.map((line) => typeof line === "string" ? line + "\n" : encodeNdjson([line])).join("");
}

export interface PostOptions {
  token?: string | null;
  isGzip?: boolean;
  headers?: Record<string, string>;
}

/** A `POST /v1/events` request with the body (gzipped unless isGzip is false) and cluster-a's token by default. */
export async function eventsRequest(body: string | Uint8Array, options: PostOptions = {}): Promise<Request> {
  const isGzip = options.isGzip ?? true;
  const headers: Record<string, string> = { "content-type": "application/x-ndjson" };
  if (isGzip) headers["content-encoding"] = "gzip";
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return new Request("http://handler.test/v1/events", {
    method: "POST",
    headers: { ...headers, ...options.headers },
    body: isGzip ? await gzip(bytes) : bytes as Uint8Array<ArrayBuffer>,
  });
}

/** Sends the body and returns status and parsed JSON body. */
export async function post(
  app: App,
  body: string | Uint8Array,
  options: PostOptions = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await app.fetch(await eventsRequest(body, options));
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** Asserts a problem response: status, code, content type. */
export function assertProblem(
  result: { status: number; body: Record<string, unknown>; headers: Headers },
  status: number,
  code: string,
): void {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.equal(result.headers.get("content-type"), "application/problem+json");
  assert.equal(result.body.code, code);
  assert.equal(result.body.status, status);
  assert.equal(result.body.type, `urn:events-ingester:problem:${code}`);
}

/** The stored rows of the schema's `k8s_events`, oldest version first. */
export async function storedRows(sql: postgres.Sql, schema: string): Promise<Record<string, unknown>[]> {
  return await sql.unsafe(
    `select global_uid, resource_version, cluster_name, uid, namespace, resource_kind, resource_name,
            involved_object_uid, event_type, reason, message, composition_id::text, created_at, raw
       from "${schema}".k8s_events order by created_at, global_uid, resource_version`,
  );
}

/** Number of stored rows. */
export async function countRows(sql: postgres.Sql, schema: string): Promise<number> {
  const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
  return Number(row?.n);
}

/** Asserts the app still accepts and stores a fresh valid event (the process is still serving). */
export async function assertStillServes(harness: AppHarness): Promise<void> {
  const before = await countRows(harness.sql, harness.schema);
  const result = await post(harness.app, ndjson([eventRecord()]));
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.deepEqual(result.body, { accepted: 1, duplicates: 0, rejected: [] } satisfies IngestResponse);
  assert.equal(await countRows(harness.sql, harness.schema), before + 1);
}

/** The event uid of an event record. */
export function uidOf(record: EventRecord): string {
  return (record.event.metadata as { uid: string }).uid;
}
