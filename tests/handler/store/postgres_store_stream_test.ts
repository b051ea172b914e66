import assert from "node:assert/strict";
import type postgres from "postgres";
import { FencedError } from "../../../handler/store/store.ts";
import type { PostgresStore } from "../../../handler/store/postgres_store.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import type { GapRecord } from "../../../shared/contract/records.ts";
import {
  listenForCluster,
  makeRow,
  type RowOverrides,
  uniqueCluster,
  withStore as withMigratedStore,
} from "./store_support.ts";

function withStore(fn: (store: PostgresStore, sql: postgres.Sql, schema: string) => Promise<void>): Promise<void> {
  return withMigratedStore("created by the store", fn);
}

/** An async iterable of the chunks; `failAfter` throws that error once that many chunks were handed out. */
function chunksOf(
  chunks: EventRow[][],
  options: { failAfter?: number; error?: Error; pulled?: number[] } = {},
): AsyncIterable<EventRow[]> & { isClosed: boolean } {
  const source = {
    isClosed: false,
    async *[Symbol.asyncIterator]() {
      try {
        for (let i = 0; i < chunks.length; i++) {
          if (options.failAfter === i) throw options.error;
          options.pulled?.push(i);
          // A real body arrives over time; each chunk is handed out on a later macrotask.
          await new Promise((resolve) => setTimeout(resolve, 0));
          yield chunks[i]!;
        }
      } finally {
        source.isClosed = true;
      }
    },
  };
  return source;
}

function rowsOf(cluster: string, from: number, count: number, overrides: RowOverrides = {}): EventRow[] {
  return Array.from({ length: count }, (_, i) => makeRow(cluster, from + i, overrides));
}

async function countStored(sql: postgres.Sql, schema: string, cluster: string): Promise<number> {
  const [row] = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events where cluster_name = $1`, [
    cluster,
  ]);
  return Number(row?.n);
}

async function checkpointOf(sql: postgres.Sql, schema: string, cluster: string): Promise<string | undefined> {
  const rows = await sql.unsafe(`select resume_version from "${schema}".ingester_checkpoints where cluster = $1`, [
    cluster,
  ]);
  return rows[0]?.resume_version as string | undefined;
}

Deno.test("PostgresStore.writeBatch stores streamed chunks, deduplicating across chunks, one NOTIFY per row", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const notifications = await listenForCluster(cluster);
    try {
      const chunks = [rowsOf(cluster, 0, 3), [makeRow(cluster, 1), ...rowsOf(cluster, 3, 2)], [makeRow(cluster, 4)]];
      const gaps: GapRecord[] = [];
      const source = chunksOf(chunks);
      const writing = store.writeBatch({ cluster, rows: source, gaps, resumeVersion: "77", fence: null });
      // The gap array is read only once the rows are consumed, so a reader may add to it meanwhile.
      gaps.push({
        v: 1,
        kind: "gap",
        cluster,
        from: "1",
        to: "2",
        reason: "WATCH_EXPIRED",
        observedAt: "2026-11-20T10:00:00Z",
      });
      assert.deepEqual(await writing, { inserted: 5, duplicates: 2, gapsInserted: 1 });
      assert.equal(await countStored(sql, schema, cluster), 5);
      assert.equal(await checkpointOf(sql, schema, cluster), "77");
      await notifications.waitFor(5);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(notifications.payloads.length, 5);
    } finally {
      await notifications.close();
    }
  });
});

Deno.test("PostgresStore.writeBatch rolls a streamed batch back whole when its source throws after chunks were copied", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const error = new SyntaxError("Cannot read the body: it broke");
    const pulled: number[] = [];
    const source = chunksOf([rowsOf(cluster, 0, 50), rowsOf(cluster, 50, 50), rowsOf(cluster, 100, 50)], {
      failAfter: 2,
      error,
      pulled,
    });
    await assert.rejects(
      store.writeBatch({ cluster, rows: source, gaps: [], resumeVersion: "5", fence: null }),
      (thrown: unknown) => thrown === error,
    );
    assert.deepEqual(pulled, [0, 1]);
    assert.equal(await countStored(sql, schema, cluster), 0);
    assert.equal(await checkpointOf(sql, schema, cluster), undefined);
    // The connection is usable again: the same rows stored afterwards.
    assert.deepEqual(
      await store.writeBatch({
        cluster,
        rows: chunksOf([rowsOf(cluster, 0, 150)]),
        gaps: [],
        resumeVersion: "5",
        fence: null,
      }),
      {
        inserted: 150,
        duplicates: 0,
        gapsInserted: 0,
      },
    );
  });
});

Deno.test("PostgresStore.writeBatch falls back mid-stream when a later chunk holds a stored row, announcing only new rows", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    await store.writeBatch({ cluster, rows: [makeRow(cluster, 60)], gaps: [], resumeVersion: null, fence: null });
    const notifications = await listenForCluster(cluster);
    try {
      const source = chunksOf([rowsOf(cluster, 0, 50), rowsOf(cluster, 50, 50), rowsOf(cluster, 100, 50)]);
      assert.deepEqual(await store.writeBatch({ cluster, rows: source, gaps: [], resumeVersion: null, fence: null }), {
        inserted: 149,
        duplicates: 1,
        gapsInserted: 0,
      });
      assert.equal(await countStored(sql, schema, cluster), 150);
      await notifications.waitFor(149);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(notifications.payloads.length, 149);
      assert.equal(notifications.payloads.some((p) => p.includes(`${cluster}:${makeRow(cluster, 60).uid}`)), false);
    } finally {
      await notifications.close();
    }
  });
});

Deno.test("PostgresStore.writeBatch creates partitions for days first met in a later chunk of a stream", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const days = ["2026-11-20T10:00:00Z", "2019-03-04T00:00:00Z", "2031-12-31T23:59:59Z"].map((d) => new Date(d));
    const chunks = days.map((createdAt, i) => rowsOf(cluster, i * 10, 10, { createdAt }));
    assert.deepEqual(
      await store.writeBatch({ cluster, rows: chunksOf(chunks), gaps: [], resumeVersion: "9", fence: null }),
      { inserted: 30, duplicates: 0, gapsInserted: 0 },
    );
    const partitions = await sql.unsafe(
      `select c.relname as name, count(*)::int as n from "${schema}".k8s_events e
         join pg_class c on c.oid = e.tableoid group by 1 order by 1`,
    );
    assert.deepEqual(partitions.map((p) => [p.name, p.n]), [
      ["k8s_events_2019_03_04", 10],
      ["k8s_events_2026_11_20", 10],
      ["k8s_events_2031_12_31", 10],
    ]);
    assert.equal(await checkpointOf(sql, schema, cluster), "9");
  });
});

Deno.test("PostgresStore.writeBatch refuses a fenced streamed batch, stops its source and stores nothing", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const newer = { holder: "relay-b", transitions: 3 };
    await store.writeBatch({ cluster, rows: [makeRow(cluster, 1)], gaps: [], resumeVersion: null, fence: newer });
    const pulled: number[] = [];
    const source = chunksOf([rowsOf(cluster, 10, 5), rowsOf(cluster, 20, 5), rowsOf(cluster, 30, 5)], { pulled });
    await assert.rejects(
      store.writeBatch({
        cluster,
        rows: source,
        gaps: [],
        resumeVersion: "3",
        fence: { holder: "relay-a", transitions: 2 },
      }),
      FencedError,
    );
    // The first chunk and one read ahead; the rest is never read.
    assert.deepEqual(pulled, [0, 1]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(source.isClosed, true);
    assert.equal(await countStored(sql, schema, cluster), 1);
    assert.equal(await checkpointOf(sql, schema, cluster), undefined);
  });
});

Deno.test("PostgresStore.writeBatch stores gaps and the resume point of a stream without rows", async () => {
  await withStore(async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const gap: GapRecord = {
      v: 1,
      kind: "gap",
      cluster,
      from: null,
      to: "5",
      reason: "WATCH_EXPIRED",
      observedAt: "2026-11-20T10:00:00Z",
    };
    assert.deepEqual(
      await store.writeBatch({ cluster, rows: chunksOf([[], []]), gaps: [gap], resumeVersion: "5", fence: null }),
      { inserted: 0, duplicates: 0, gapsInserted: 1 },
    );
    assert.equal(await checkpointOf(sql, schema, cluster), "5");
  });
});
