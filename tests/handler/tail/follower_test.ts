import assert from "node:assert/strict";
import { withTestSchema } from "../../support/database.ts";
import { createTestEventsDb, eventRow, startTail } from "./harness.ts";
import { followEvents } from "../../../handler/tail/follower.ts";
import { createPostgresTailSource } from "../../../handler/tail/source.ts";
import { ACCEPT_ALL } from "../../../handler/tail/filter.ts";
import { findFreePort } from "../../../handler/dev/embedded_database.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

function uniqueApplicationName(): string {
  return `tail-test-${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test("followEvents prints a row written after the start once, and no row written before", async () => {
  await withTestSchema(async (schema) => {
    const db = await createTestEventsDb(schema);
    await db.write([eventRow({ reason: "Before", ageS: 30 })]);
    const tail = startTail(schema, { applicationName: uniqueApplicationName() });
    try {
      await tail.waitForLog("Following events", 1);
      const after = eventRow({ namespace: "shop", name: "web-0", type: "Warning", reason: "BackOff", message: "m1" });
      assert.equal(await db.write([after]), 1);
      assert.equal(await db.write([after]), 0);
      const sentinel = eventRow({ reason: "Sentinel" });
      await db.write([sentinel]);
      await tail.waitForPrinted(2);
      assert.deepEqual(tail.printed.map((row) => row.globalUid), [after.globalUid, sentinel.globalUid]);
      const row = tail.printed[0]!;
      assert.deepEqual(
        [row.clusterName, row.namespace, row.resourceKind, row.resourceName, row.eventType, row.reason, row.message],
        ["prod-a", "shop", "v1.Pod", "web-0", "Warning", "BackOff", "m1"],
      );
      assert.equal(row.createdAt.getTime(), Date.parse(after.createdAt));
    } finally {
      await tail.stop();
      await db.close();
    }
  });
});

Deno.test("followEvents prints only rows that pass the cluster, namespace, type and reason filters", async () => {
  await withTestSchema(async (schema) => {
    const db = await createTestEventsDb(schema);
    const tail = startTail(schema, {
      applicationName: uniqueApplicationName(),
      filter: { clusters: ["prod-b"], namespaces: ["shop", "web"], types: ["Warning"], reasons: ["BackOff"] },
    });
    try {
      await tail.waitForLog("Following events", 1);
      const match1 = eventRow({ cluster: "prod-b", namespace: "shop", type: "Warning", reason: "BackOff" });
      const match2 = eventRow({ cluster: "prod-b", namespace: "web", type: "Warning", reason: "BackOff" });
      await db.write([eventRow({ cluster: "prod-a", namespace: "shop", type: "Warning", reason: "BackOff" })]);
      await db.write([
        match1,
        eventRow({ cluster: "prod-b", namespace: "other", type: "Warning", reason: "BackOff" }),
        eventRow({ cluster: "prod-b", namespace: "shop", type: "Normal", reason: "BackOff" }),
        eventRow({ cluster: "prod-b", namespace: "shop", type: "Warning", reason: "Pulled" }),
      ]);
      await db.write([match2]);
      await tail.waitForPrinted(2);
      assert.deepEqual(tail.printed.map((row) => row.globalUid), [match1.globalUid, match2.globalUid]);
    } finally {
      await tail.stop();
      await db.close();
    }
  });
});

Deno.test("followEvents with sinceMs prints recent rows first in time order, then new rows", async () => {
  await withTestSchema(async (schema) => {
    const db = await createTestEventsDb(schema);
    const old = eventRow({ reason: "Old", ageS: 2 * 3600 });
    const recent1 = eventRow({ reason: "Recent1", ageS: 20 * 60 });
    const recent2 = eventRow({ reason: "Recent2", ageS: 5 * 60 });
    const otherNamespace = eventRow({ reason: "Recent3", namespace: "kube-system", ageS: 60 });
    await db.write([recent2, old, otherNamespace, recent1]);
    const tail = startTail(schema, {
      applicationName: uniqueApplicationName(),
      sinceMs: 30 * 60 * 1000,
      filter: { clusters: [], namespaces: ["default"], types: [], reasons: [] },
    });
    try {
      await tail.waitForLog("Following events", 1);
      assert.deepEqual(tail.printed.map((row) => row.reason), ["Recent1", "Recent2"]);
      assert.equal(tail.logs.find((entry) => entry.msg === "Following events")?.caughtUp, 2);
      const fresh = eventRow({ reason: "Fresh" });
      await db.write([fresh]);
      await tail.waitForPrinted(3);
      assert.deepEqual(tail.printed.map((row) => row.reason), ["Recent1", "Recent2", "Fresh"]);
    } finally {
      await tail.stop();
      await db.close();
    }
  });
});

Deno.test("followEvents catches up after pg_terminate_backend and prints each missed row exactly once", async () => {
  await withTestSchema(async (schema, sql) => {
    const db = await createTestEventsDb(schema);
    const applicationName = uniqueApplicationName();
    const delayEntered = Promise.withResolvers<number>();
    const gate = Promise.withResolvers<void>();
    const preexisting = eventRow({ reason: "Preexisting", ageS: 60 });
    await db.write([preexisting]);
    const tail = startTail(schema, {
      applicationName,
      // Reconnecting waits for the test: rows written meanwhile can only be found by catch-up.
      delay: (ms) => {
        delayEntered.resolve(ms);
        return gate.promise;
      },
    });
    try {
      await tail.waitForLog("Following events", 1);
      const a = eventRow({ reason: "A" });
      await db.write([a]);
      await tail.waitForPrinted(1);

      const terminated = await sql`
        select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ${applicationName}`;
      assert.deepEqual(terminated.map((row) => row.ok), [true]);
      assert.equal(await delayEntered.promise, 250);

      const missed1 = eventRow({ reason: "Missed1", ageS: 30 });
      const missed2 = eventRow({ reason: "Missed2", ageS: 2 });
      await db.write([missed1, missed2, a]);
      gate.resolve();
      await tail.waitForLog("Following events", 2);
      const b = eventRow({ reason: "B" });
      await db.write([b]);
      await tail.waitForPrinted(4);

      assert.deepEqual(tail.printed.map((row) => row.reason), ["A", "Missed1", "Missed2", "B"]);
      const following = tail.logs.filter((entry) => entry.msg === "Following events");
      assert.deepEqual(following.map((entry) => [entry.caughtUp, entry.isReconnect]), [[0, false], [2, true]]);
      const lost = tail.logs.find((entry) => entry.msg === "Cannot follow events; reconnecting");
      assert.equal(lost?.code, "TAIL_CONNECTION_LOST");
      assert.equal(lost?.level, "warn");
    } finally {
      gate.resolve();
      await tail.stop();
      await db.close();
    }
  });
});

Deno.test("followEvents keeps retrying with growing waits while the database cannot be reached", async () => {
  const waits: number[] = [];
  const logs: string[] = [];
  const controller = new AbortController();
  const port = await findFreePort();
  await followEvents({
    source: createPostgresTailSource({
      databaseUrl: `postgres://nobody@127.0.0.1:${port}/none`,
      schema: "public",
      connectTimeoutS: 2,
    }),
    filter: ACCEPT_ALL,
    catchUpWindowMs: 60_000,
    print: () => {},
    logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
    signal: controller.signal,
    delay: (ms) => {
      waits.push(ms);
      if (waits.length === 7) controller.abort();
      return Promise.resolve();
    },
  });
  assert.deepEqual(waits, [250, 500, 1000, 2000, 5000, 5000, 5000]);
  assert.equal(logs.length, 7);
  const first = JSON.parse(logs[0]!);
  assert.equal(first.code, "TAIL_CONNECTION_LOST");
  assert.match(first.error, /^Error: Cannot listen on channel events: /);
});

Deno.test("followEvents pages a catch-up through rows that share one created_at, printing each once", async () => {
  await withTestSchema(async (schema, sql) => {
    const db = await createTestEventsDb(schema);
    const at = new Date(Date.now() - 60_000).toISOString();
    const rows = Array.from({ length: 5 }, (_, i) => ({ ...eventRow({ reason: `Same${i}` }), createdAt: at }));
    await db.write(rows);
    // Microseconds a JavaScript Date cannot hold: paging must use the exact created_at, or it repeats a page.
    await sql`update ${sql(schema)}.k8s_events set created_at = created_at + interval '0.000456 second'`;
    const tail = startTail(schema, { applicationName: uniqueApplicationName(), sinceMs: 120_000, pageRowsMax: 2 });
    try {
      await tail.waitForLog("Following events", 1);
      assert.deepEqual(
        tail.printed.map((row) => row.reason).sort(),
        ["Same0", "Same1", "Same2", "Same3", "Same4"],
      );
      assert.deepEqual(tail.printed.map((row) => row.eventId), [...tail.printed.map((row) => row.eventId)].sort());
    } finally {
      await tail.stop();
      await db.close();
    }
  });
});

Deno.test("followEvents falls back to a catch-up query when notifications overflow queueEntriesMax", async () => {
  await withTestSchema(async (schema) => {
    const db = await createTestEventsDb(schema);
    const tail = startTail(schema, { applicationName: uniqueApplicationName(), queueEntriesMax: 2 });
    try {
      await tail.waitForLog("Following events", 1);
      const burst = Array.from({ length: 6 }, (_, i) => eventRow({ reason: `Burst${i}`, ageS: 10 - i }));
      await db.write(burst);
      await tail.waitForPrinted(6);
      await tail.waitForLog("Notifications overflowed; caught up by query", 1);
      const sentinel = eventRow({ reason: "Sentinel" });
      await db.write([sentinel]);
      await tail.waitForPrinted(7);
      assert.deepEqual(
        tail.printed.map((row) => row.reason).sort(),
        ["Burst0", "Burst1", "Burst2", "Burst3", "Burst4", "Burst5", "Sentinel"],
      );
      assert.equal(tail.printed.at(-1)?.reason, "Sentinel");
    } finally {
      await tail.stop();
      await db.close();
    }
  });
});
