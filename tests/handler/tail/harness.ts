/**
 * Shared setup of the `deno task tail` database tests: the handler's real store writes rows into a test schema, the
 * real follower reads them through the real postgres.js source, and the test waits on what it printed and logged.
 */
import { createLogger } from "../../../shared/telemetry/log.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { createPostgresStore } from "../../../handler/store/postgres_store.ts";
import { followEvents, type FollowEventsOptions } from "../../../handler/tail/follower.ts";
import { ACCEPT_ALL } from "../../../handler/tail/filter.ts";
import { createPostgresTailSource } from "../../../handler/tail/source.ts";
import type { TailRow } from "../../../handler/tail/row.ts";
import { testDatabaseUrl } from "../../support/database.ts";

const silent = createLogger({ isDebug: false, write: () => {} });

export interface TestEventsDb {
  /**
   * Stores rows through the handler's store, one batch (one transaction) per cluster in order of first appearance;
   * returns how many were new. Each new row is announced by one NOTIFY at commit.
   */
  write(rows: EventRow[]): Promise<number>;
  close(): Promise<void>;
}

/** `k8s_events` on `schema`, created and written by the handler's own store (migrations, partitions, NOTIFY). */
export async function createTestEventsDb(schema: string): Promise<TestEventsDb> {
  const store = createPostgresStore({
    url: testDatabaseUrl(),
    schema,
    poolMax: 2,
    retentionDays: 0,
    connectTimeoutS: 5,
    logger: silent,
  });
  await store.migrate();
  return {
    async write(rows) {
      const byCluster = Map.groupBy(rows, (row) => row.clusterName);
      let inserted = 0;
      for (const [cluster, clusterRows] of byCluster) {
        const result = await store.writeBatch({
          cluster,
          rows: clusterRows,
          gaps: [],
          resumeVersion: null,
          fence: null,
        });
        inserted += result.inserted;
      }
      return inserted;
    },
    close: () => store.close(),
  };
}

let uidCounter = 0;

/** A row as the handler maps it; `ageS` is how long before now the event happened. */
export function eventRow(options: {
  cluster?: string;
  namespace?: string;
  name?: string;
  type?: string;
  reason?: string;
  message?: string;
  ageS?: number;
}): EventRow {
  uidCounter++;
  const uid = `${crypto.randomUUID().slice(0, 8)}-0000-4000-8000-${String(uidCounter).padStart(12, "0")}`;
  const cluster = options.cluster ?? "prod-a";
  return {
    createdAt: new Date(Date.now() - (options.ageS ?? 1) * 1000).toISOString(),
    clusterName: cluster,
    uid,
    globalUid: `${cluster}:${uid}`,
    namespace: options.namespace ?? "default",
    resourceKind: "v1.Pod",
    resourceName: options.name ?? `pod-${uidCounter}`,
    involvedObjectUid: null,
    eventType: options.type ?? "Normal",
    reason: options.reason ?? "Started",
    message: options.message ?? `message ${uidCounter}`,
    compositionId: null,
    raw: "{}",
    resourceVersion: String(1000 + uidCounter),
  };
}

export interface RunningTail {
  printed: TailRow[];
  logs: Record<string, unknown>[];
  /** Resolves once `count` rows have been printed; rejects after 10 s. */
  waitForPrinted(count: number): Promise<void>;
  /** Resolves once `count` log lines with this `msg` were written; rejects after 10 s. */
  waitForLog(msg: string, count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the real follower on `schema`. `applicationName` lets a test find its connection in pg_stat_activity. */
export function startTail(
  schema: string,
  options: Partial<Omit<FollowEventsOptions, "source" | "print" | "logger" | "signal">> & { applicationName: string },
): RunningTail {
  const printed: TailRow[] = [];
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((check) => check());
  const controller = new AbortController();
  const { applicationName, ...followOptions } = options;
  const done = followEvents({
    filter: ACCEPT_ALL,
    catchUpWindowMs: 10 * 60 * 1000,
    ...followOptions,
    source: createPostgresTailSource({ databaseUrl: testDatabaseUrl(), schema, connectTimeoutS: 5, applicationName }),
    print: (row) => {
      printed.push(row);
      notify();
    },
    logger: createLogger({
      isDebug: false,
      write: (line) => {
        logs.push(JSON.parse(line));
        notify();
      },
    }),
    signal: controller.signal,
  });
  const waitUntil = (isDone: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!isDone()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Timed out waiting for ${what}; printed ${printed.length}, logs ${JSON.stringify(logs)}`));
      }, 10_000);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    printed,
    logs,
    waitForPrinted: (count) => waitUntil(() => printed.length >= count, `${count} printed rows`),
    waitForLog: (msg, count) =>
      waitUntil(() => logs.filter((entry) => entry.msg === msg).length >= count, `${count} logs "${msg}"`),
    async stop() {
      controller.abort();
      await done;
    },
  };
}
