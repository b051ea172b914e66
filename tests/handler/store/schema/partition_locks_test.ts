/**
 * Partitions and uploads in progress, over real sockets to the real app and a real PostgreSQL: an upload stalled
 * mid-body holds its transaction (and its ROW EXCLUSIVE lock on k8s_events) open. A batch for a day made ahead of
 * need, or for a day created on demand, is stored meanwhile; when a conflicting lock stands in the way of a new
 * day's partition, the batch is answered 503 PARTITION_LOCK_TIMEOUT after PARTITION_LOCK_TIMEOUT_S instead of
 * queueing behind it.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import type { EventRecord } from "../../../../shared/contract/records.ts";
import { ensurePartitionsAhead } from "../../../../handler/store/schema/partitions_ahead.ts";
import { toDaysAhead } from "../../../../handler/store/schema/partitions.ts";
import { testDatabaseUrl } from "../../../support/database.ts";
import {
  type AppHarness,
  assertProblem,
  countRows,
  eventRecord,
  ndjson,
  post,
  TOKEN,
  withApp,
} from "../../http/app_harness.ts";
import { createKrateoPartition } from "../store_support.ts";

/** An event record whose version happened at noon UTC of `day`. */
function eventOn(day: string): EventRecord {
  const record = eventRecord();
  Object.assign(record.event, { firstTimestamp: `${day}T12:00:00Z`, lastTimestamp: `${day}T12:00:00Z` });
  return record;
}

/** Backends other than the test's holding a granted ROW EXCLUSIVE lock on the schema's k8s_events. */
async function uploadsHoldingTheTable(h: AppHarness): Promise<number> {
  const rows = await h.sql.unsafe(
    `select count(*)::int as n from pg_locks
      where relation = to_regclass($1) and mode = 'RowExclusiveLock' and granted and pid <> pg_backend_pid()`,
    [`"${h.schema}".k8s_events`],
  );
  return Number(rows[0]?.n);
}

/**
 * Opens `POST /v1/events` on the server, sends the head (announcing more bytes than will come) and the first
 * `records`, then stops sending with the connection open; resolves once the handler's transaction holds the table.
 */
async function stallUpload(h: AppHarness, port: number, records: EventRecord[]): Promise<Deno.Conn> {
  const body = new TextEncoder().encode(ndjson(records));
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = [
    "POST /v1/events HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    `Authorization: Bearer ${TOKEN}`,
    "Content-Type: application/x-ndjson",
    `Content-Length: ${body.byteLength + 1_000_000}`,
    "",
    "",
  ].join("\r\n");
  await connection.write(new TextEncoder().encode(head));
  await connection.write(body);
  const deadline = Date.now() + 10_000;
  while (await uploadsHoldingTheTable(h) === 0) {
    if (Date.now() > deadline) throw new Error("Cannot see the stalled upload's transaction within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return connection;
}

/** Enough records for the first row chunk (about 128 Ki characters of `raw`) to reach the database. */
const STALLED_RECORDS = 600;

Deno.test("A stalled upload holds neither a batch for a day made ahead of need nor one for a day created on demand", async () => {
  await withApp(async (h) => {
    const [today, tomorrow] = toDaysAhead(new Date(), 2) as [string, string];
    await ensurePartitionsAhead({ store: h.store, partitionsAheadDays: h.config.partitionsAheadDays, now: new Date() });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, h.app.fetch);
    let connection: Deno.Conn | undefined;
    try {
      const records = Array.from({ length: STALLED_RECORDS }, () => eventOn(today));
      connection = await stallUpload(h, server.addr.port, records);
      const logsBefore = h.logs.length;
      for (const day of [tomorrow, "2019-05-05"]) {
        const started = performance.now();
        const result = await post(h.app, ndjson([eventOn(day)]));
        const tookMs = performance.now() - started;
        assert.deepEqual([result.status, result.body], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
        // Without waiting: the upload is still stalled, its transaction still open.
        assert.equal(await uploadsHoldingTheTable(h), 1);
        assert.ok(tookMs < 3_000, `${day} took ${tookMs} ms`);
      }
      const created = h.logs.slice(logsBefore).map((line) => JSON.parse(line)).filter((l) =>
        l.msg === "created partition"
      );
      // Tomorrow's partition was made ahead of need; only the far day's was created on the way.
      assert.deepEqual(created.map((line) => line.day), ["2019-05-05"]);
      assert.equal(await countRows(h.sql, h.schema), 2);
    } finally {
      connection?.close();
      await server.shutdown();
    }
  });
});

Deno.test("A batch needing a new partition behind a conflicting lock is answered 503 PARTITION_LOCK_TIMEOUT within PARTITION_LOCK_TIMEOUT_S", async () => {
  await withApp(async (h) => {
    const [today] = toDaysAhead(new Date(), 1) as [string];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, h.app.fetch);
    const job = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
    let connection: Deno.Conn | undefined;
    try {
      const records = Array.from({ length: STALLED_RECORDS }, () => eventOn(today));
      connection = await stallUpload(h, server.addr.port, records);
      // Another owner's partition job (CREATE TABLE ... PARTITION OF) queues for an ACCESS EXCLUSIVE lock behind it.
      const jobDone = createKrateoPartition(job, h.schema, "2030-01-01").then(() => "done", (error) => error);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const waiting = await h.sql.unsafe(
          `select count(*)::int as n from pg_locks
            where relation = to_regclass($1) and mode = 'AccessExclusiveLock' and not granted`,
          [`"${h.schema}".k8s_events`],
        );
        if (Number(waiting[0]?.n) === 1) break;
        if (Date.now() > deadline) throw new Error("Cannot see the job waiting for its lock within 10 s");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const started = performance.now();
      const result = await post(h.app, ndjson([eventOn("2019-05-05")]));
      const tookMs = performance.now() - started;
      assertProblem(result, 503, "PARTITION_LOCK_TIMEOUT");
      assert.equal(result.headers.get("retry-after"), "5");
      assert.equal(
        result.body.detail,
        "Cannot store the batch: a day's partition could not be created within PARTITION_LOCK_TIMEOUT_S, another " +
          "session holds or awaits a conflicting lock on k8s_events; nothing was written",
      );
      assert.ok(tookMs >= 450 && tookMs < 3_500, `answered after ${tookMs} ms (lock timeout 500 ms)`);
      // The stalled upload ends (its client goes away); the job gets its lock, and the same batch is then stored.
      connection.close();
      connection = undefined;
      assert.equal(await jobDone, "done");
      const retried = await post(h.app, ndjson([eventOn("2019-05-05")]));
      assert.deepEqual([retried.status, retried.body], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
    } finally {
      connection?.close();
      await job.end({ timeout: 1 });
      await server.shutdown();
    }
  }, { PARTITION_LOCK_TIMEOUT_S: "0.5" });
});
