import assert from "node:assert/strict";
import type postgres from "postgres";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import type { BatchWrite, RefusedRow } from "../../../handler/store/store.ts";
import { RowRefusalsExceededError, StoreUnavailableError } from "../../../handler/store/store.ts";
import type { PostgresStore } from "../../../handler/store/postgres_store.ts";
import { testDatabaseUrl } from "../../support/database.ts";
import { listenForCluster, makeRow, openStore, type SchemaPath, uniqueCluster, withStore } from "./store_support.ts";
import { addRefusingRules, incompressibleMessage, POISON_FUNCTION, REASON_CHECK } from "./refusal_support.ts";

const PATHS: SchemaPath[] = ["created by the store", "existing Krateo schema"];

function batchOf(
  cluster: string,
  rows: readonly EventRow[] | AsyncIterable<EventRow[]>,
  extra: Partial<BatchWrite> = {},
) {
  return { cluster, rows, gaps: [], resumeVersion: null, fence: null, ...extra };
}

/** The rows as a stream of chunks of `size`, as the request reader hands them out. */
async function* chunksOf(rows: readonly EventRow[], size: number): AsyncGenerator<EventRow[]> {
  for (let i = 0; i < rows.length; i += size) {
    await Promise.resolve();
    yield rows.slice(i, i + size);
  }
}

/** (index in `rows`, reason) of each refused row. */
function refusedAt(rows: readonly EventRow[], refused: readonly RefusedRow[] | undefined): [number, string][] {
  return (refused ?? []).map(({ row, reason }) => [rows.indexOf(row), reason]);
}

/** resource_version of the cluster's stored rows, each once, sorted as numbers. */
async function storedVersions(sql: postgres.Sql, schema: string, cluster: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `select resource_version from "${schema}".k8s_events where cluster_name = $1 order by resource_version::int`,
    [cluster],
  );
  return rows.map((row) => row.resource_version as string);
}

/**
 * Twenty rows of which six are refused by addRefusingRules, one for each way: a missing reason, a forbidden reason,
 * a poisoned message, a resource name too long for its column, a message too large for the index on it, and a raw
 * text that is not JSON. Returns the rows and the expected (index, reason) of each refused one.
 */
function rowsWithRefusals(cluster: string, schema: string): { rows: EventRow[]; expected: [number, string][] } {
  const rows = Array.from({ length: 20 }, (_, i) => makeRow(cluster, i));
  rows[0] = makeRow(cluster, 0, { reason: null });
  rows[3] = makeRow(cluster, 3, { reason: "Forbidden" });
  rows[7] = makeRow(cluster, 7, { message: "a poison pill" });
  rows[10] = makeRow(cluster, 10, { resourceName: "n".repeat(64) });
  rows[15] = makeRow(cluster, 15, { message: incompressibleMessage() });
  rows[19] = makeRow(cluster, 19, { raw: "[1," });
  const expected: [number, string][] = [
    [0, 'SQLSTATE 23502 not_null_violation, column "reason"'],
    [3, `SQLSTATE 23514 check_violation, constraint "${REASON_CHECK}"`],
    [7, `SQLSTATE P0001 raise_exception, raised in function ${schema}.${POISON_FUNCTION}`],
    [10, "SQLSTATE 22001 string_data_right_truncation"],
    [15, 'SQLSTATE 54000 program_limit_exceeded, constraint "k8s_events_2026_11_20_message_idx"'],
    [19, "SQLSTATE 22P02 invalid_text_representation"],
  ];
  return { rows, expected };
}

const GOOD_VERSIONS = [1, 2, 4, 5, 6, 8, 9, 11, 12, 13, 14, 16, 17, 18].map((n) => String(1000 + n));

for (const path of PATHS) {
  for (const shape of ["in memory", "streamed in chunks of 3"] as const) {
    Deno.test(`PostgresStore.writeBatch stores all but the rows the table refuses, with why, and the resume point (${path}, ${shape})`, async () => {
      await withStore(path, async (store, sql, schema) => {
        await addRefusingRules(sql, schema);
        const cluster = uniqueCluster();
        const { rows, expected } = rowsWithRefusals(cluster, schema);
        const notifications = await listenForCluster(cluster);
        try {
          const source = () => shape === "in memory" ? rows : chunksOf(rows, 3);
          const result = await store.writeBatch(batchOf(cluster, source(), { resumeVersion: "77" }));
          assert.deepEqual({ ...result, refused: refusedAt(rows, result.refused) }, {
            inserted: 14,
            duplicates: 0,
            gapsInserted: 0,
            refused: expected,
          });
          assert.deepEqual(await storedVersions(sql, schema, cluster), GOOD_VERSIONS);
          assert.equal((await store.readCheckpoint(cluster)).resumeVersion, "77");
          await notifications.waitFor(14);
          // No row of a rolled-back part was announced: exactly one notification per stored row.
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(notifications.payloads.length, 14);

          // The same batch again: the stored rows are duplicates, the refused ones refused the same way.
          const again = await store.writeBatch(batchOf(cluster, source(), { resumeVersion: "78" }));
          assert.deepEqual({ ...again, refused: refusedAt(rows, again.refused) }, {
            inserted: 0,
            duplicates: 14,
            gapsInserted: 0,
            refused: expected,
          });
          assert.deepEqual(await storedVersions(sql, schema, cluster), GOOD_VERSIONS);
          assert.equal((await store.readCheckpoint(cluster)).resumeVersion, "78");
        } finally {
          await notifications.close();
        }
      });
    });
  }
}

Deno.test("PostgresStore.writeBatch isolates a refused row of a stream whose later chunk needs a new partition", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    await addRefusingRules(sql, schema);
    const cluster = uniqueCluster();
    const rows = Array.from({ length: 8 }, (_, i) => makeRow(cluster, i));
    // Refused by the column type already while staged, in the first chunk; the last chunk falls on a day not seen.
    rows[1] = makeRow(cluster, 1, { resourceName: "n".repeat(64) });
    rows[7] = makeRow(cluster, 7, { createdAt: new Date("2026-12-24T18:00:00Z") });
    const result = await store.writeBatch(batchOf(cluster, chunksOf(rows, 2), { resumeVersion: "8" }));
    assert.deepEqual({ ...result, refused: refusedAt(rows, result.refused) }, {
      inserted: 7,
      duplicates: 0,
      gapsInserted: 0,
      refused: [[1, "SQLSTATE 22001 string_data_right_truncation"]],
    });
    const placed = await sql.unsafe(
      `select c.relname as partition, count(*)::int as n from "${schema}".k8s_events e
         join pg_class c on c.oid = e.tableoid group by 1 order by 1`,
    );
    assert.deepEqual(placed.map((row) => [row.partition, row.n]), [
      ["k8s_events_2026_11_20", 6],
      ["k8s_events_2026_12_24", 1],
    ]);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, "8");
  });
});

Deno.test("PostgresStore.writeBatch refuses the repeats of a refused row with it and counts the other repeats as duplicates", async () => {
  await withStore("existing Krateo schema", async (store, sql, schema) => {
    await addRefusingRules(sql, schema);
    const cluster = uniqueCluster();
    const good = makeRow(cluster, 1);
    const bad = makeRow(cluster, 2, { reason: "Forbidden" });
    const rows = [bad, good, { ...bad }, { ...good }, { ...bad, message: "same version, other text" }];
    const result = await store.writeBatch(batchOf(cluster, rows));
    const reason = `SQLSTATE 23514 check_violation, constraint "${REASON_CHECK}"`;
    assert.deepEqual({ ...result, refused: refusedAt(rows, result.refused) }, {
      inserted: 1,
      duplicates: 1,
      gapsInserted: 0,
      refused: [[0, reason], [2, reason], [4, reason]],
    });
    assert.deepEqual(await storedVersions(sql, schema, cluster), ["1001"]);
  });
});

Deno.test("PostgresStore.writeBatch finds 7 refused rows among 5,000 at the ends and the middle within 2·k·⌈log2 n⌉ writes", async () => {
  await withStore("created by the store", async (_store, sql, schema) => {
    await addRefusingRules(sql, schema);
    const cluster = uniqueCluster();
    const rows = Array.from({ length: 5_000 }, (_, i) => makeRow(cluster, i));
    const badAt = [0, 1, 2_499, 2_500, 3_333, 4_998, 4_999];
    for (const i of badAt) rows[i] = makeRow(cluster, i, { reason: "Forbidden" });
    const logs: string[] = [];
    const counted = openStore(schema, {}, logs);
    try {
      const result = await counted.writeBatch(batchOf(cluster, chunksOf(rows, 400), { resumeVersion: "5000" }));
      const reason = `SQLSTATE 23514 check_violation, constraint "${REASON_CHECK}"`;
      assert.deepEqual(refusedAt(rows, result.refused), badAt.map((i) => [i, reason]));
      assert.deepEqual([result.inserted, result.duplicates], [4_993, 0]);
      const [count] = await sql.unsafe(
        `select count(*)::int as n, count(distinct resource_version)::int as versions
           from "${schema}".k8s_events where cluster_name = $1 and reason <> 'Forbidden'`,
        [cluster],
      );
      assert.deepEqual([count?.n, count?.versions], [4_993, 4_993]);
      const refusedLog = logs.map((line) => JSON.parse(line)).find((line) =>
        line.msg === "rows refused by the database"
      );
      assert.ok(refusedLog, logs.join("\n"));
      assert.equal(refusedLog.refused, 7);
      assert.ok(refusedLog.writes <= 2 * 7 * Math.ceil(Math.log2(5_000)), `${refusedLog.writes} writes`);
      assert.equal((await counted.readCheckpoint(cluster)).resumeVersion, "5000");
    } finally {
      await counted.close();
    }
  });
});

Deno.test("PostgresStore.writeBatch refuses a batch whole with RowRefusalsExceededError past rowRefusalsMax", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    await addRefusingRules(sql, schema);
    const cluster = uniqueCluster();
    const rows = Array.from({ length: 40 }, (_, i) => makeRow(cluster, i, i % 10 === 5 ? { reason: null } : {}));
    await assert.rejects(store.writeBatch(batchOf(cluster, rows, { resumeVersion: "9", rowRefusalsMax: 3 })), {
      name: "RowRefusalsExceededError",
      message: "Cannot store the batch: the database refused more than 3 of its rows (ROW_REFUSALS_MAX); the last: " +
        'SQLSTATE 23502 not_null_violation, column "reason"',
    });
    assert.deepEqual(await storedVersions(sql, schema, cluster), []);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
    const result = await store.writeBatch(batchOf(cluster, rows, { resumeVersion: "9", rowRefusalsMax: 4 }));
    assert.deepEqual([result.inserted, result.refused?.length], [36, 4]);
    assert.ok(!(new RowRefusalsExceededError("x") instanceof StoreUnavailableError));
  });
});

/** Adds a trigger raising SQLSTATE `code` for rows whose message is `raise`. */
async function raiseOnMessage(sql: postgres.Sql, schema: string, code: string): Promise<void> {
  await sql.unsafe(
    `create function "${schema}".raise_code() returns trigger language plpgsql as $fn$
     begin
       if new.message = 'raise' then raise exception 'raised on purpose' using errcode = '${code}'; end if;
       return new;
     end
     $fn$`,
  );
  await sql.unsafe(
    `create trigger raise_code before insert on "${schema}".k8s_events
       for each row execute function "${schema}".raise_code()`,
  );
}

const NOT_ABOUT_CONTENT: [string, string][] = [
  ["40001", "serialization_failure"],
  ["53100", "disk_full"],
  ["57P01", "admin_shutdown"],
];

for (const [code, name] of NOT_ABOUT_CONTENT) {
  Deno.test(`PostgresStore.writeBatch answers ${code} ${name} raised for one row with StoreUnavailableError, storing nothing`, async () => {
    await withStore("created by the store", async (store, sql, schema) => {
      await raiseOnMessage(sql, schema, code);
      const cluster = uniqueCluster();
      const rows = [makeRow(cluster, 1), makeRow(cluster, 2, { message: "raise" }), makeRow(cluster, 3)];
      await assert.rejects(
        store.writeBatch(batchOf(cluster, rows, { resumeVersion: "5" })),
        (error: unknown) => error instanceof StoreUnavailableError && error.message.endsWith(`(${code})`),
      );
      assert.deepEqual(await storedVersions(sql, schema, cluster), []);
      assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
    });
  });
}

Deno.test("PostgresStore.writeBatch answers a connection lost while it isolates refused rows with StoreUnavailableError", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    await addRefusingRules(sql, schema);
    // A row that makes its insert sleep: reached only once the refused row before it was left out of a part.
    await sql.unsafe(
      `create function "${schema}".sleep_on_slow() returns trigger language plpgsql as $fn$
       begin
         if new.message = 'slow' then perform pg_sleep(30); end if;
         return new;
       end
       $fn$`,
    );
    await sql.unsafe(
      `create trigger sleep_on_slow before insert on "${schema}".k8s_events
         for each row execute function "${schema}".sleep_on_slow()`,
    );
    const cluster = uniqueCluster();
    const rows = Array.from({ length: 16 }, (_, i) => makeRow(cluster, i));
    rows[0] = makeRow(cluster, 0, { reason: "Forbidden" });
    rows[12] = makeRow(cluster, 12, { message: "slow" });
    // Observed at once: the terminated connection can reject the write while the loop below still awaits its query.
    const writing = store.writeBatch(batchOf(cluster, rows, { resumeVersion: "5" })).then(
      () => undefined,
      (error: unknown) => error,
    );
    const deadline = Date.now() + 20_000;
    let terminated = false;
    while (!terminated && Date.now() < deadline) {
      const [row] = await sql.unsafe(
        `select pg_terminate_backend(pid) as done from pg_stat_activity
          where application_name = 'events-ingester' and wait_event = 'PgSleep' and query like 'insert into%'`,
      );
      terminated = row?.done === true;
      if (!terminated) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(terminated, "no part of the isolation reached the sleeping row");
    assert.ok(await writing instanceof StoreUnavailableError, "the write failed with StoreUnavailableError");
    assert.deepEqual(await storedVersions(sql, schema, cluster), []);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
  });
});

Deno.test("PostgresStore.writeBatch answers a lock timeout with StoreUnavailableError, storing nothing", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)]));
    const url = new URL(testDatabaseUrl());
    url.searchParams.set("lock_timeout", "300");
    const impatient = openStore(schema, { url: url.toString() });
    const locked = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const holder = sql.begin(async (tx) => {
      await tx.unsafe(`lock table "${schema}".k8s_events in access exclusive mode`);
      locked.resolve();
      await release.promise;
    });
    try {
      await locked.promise;
      await assert.rejects(
        impatient.writeBatch(batchOf(cluster, [makeRow(cluster, 2)], { resumeVersion: "5" })),
        (error: unknown) => error instanceof StoreUnavailableError && error.message.endsWith("(55P03)"),
      );
    } finally {
      release.resolve();
      await holder;
      await impatient.close();
    }
    assert.deepEqual(await storedVersions(sql, schema, cluster), ["1001"]);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
  });
});

Deno.test("PostgresStore.writeBatch rethrows insufficient privilege (42501) as it is, storing nothing", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)]));
    const role = `${schema}_reader`;
    await sql.unsafe(`create role "${role}" login password 'reader-pw'`);
    let reader: PostgresStore | undefined;
    try {
      await sql.unsafe(`grant usage on schema "${schema}" to "${role}"`);
      await sql.unsafe(`grant select on all tables in schema "${schema}" to "${role}"`);
      await sql.unsafe(`grant insert, update on "${schema}".ingester_checkpoints to "${role}"`);
      const url = new URL(testDatabaseUrl());
      [url.username, url.password] = [role, "reader-pw"];
      reader = openStore(schema, { url: url.toString() });
      await assert.rejects(
        reader.writeBatch(batchOf(cluster, [makeRow(cluster, 2), makeRow(cluster, 3)], { resumeVersion: "5" })),
        (error: unknown) => !(error instanceof StoreUnavailableError) && (error as { code?: string }).code === "42501",
      );
    } finally {
      await reader?.close();
      await sql.unsafe(`drop owned by "${role}"`);
      await sql.unsafe(`drop role "${role}"`);
    }
    assert.deepEqual(await storedVersions(sql, schema, cluster), ["1001"]);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
  });
});

for (const path of PATHS) {
  Deno.test(`PostgresStore.writeBatch stores events dated at the ends of the calendar, 0001-01-01 and 9999-12-31 (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const rows = [
        makeRow(cluster, 1, { createdAt: new Date("0001-01-01T00:00:00.000Z") }),
        makeRow(cluster, 2, { createdAt: new Date("9999-12-31T00:00:00.000Z") }),
        makeRow(cluster, 3, { createdAt: new Date("9999-12-31T23:59:59.999Z") }),
      ];
      assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), { inserted: 3, duplicates: 0, gapsInserted: 0 });
      const placed = await sql.unsafe(
        `select c.relname as partition, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') as at
           from "${schema}".k8s_events e join pg_class c on c.oid = e.tableoid order by e.created_at`,
      );
      assert.deepEqual(placed.map((row) => [row.partition, row.at]), [
        ["k8s_events_0001_01_01", "0001-01-01 00:00:00.000"],
        ["k8s_events_9999_12_31", "9999-12-31 00:00:00.000"],
        ["k8s_events_9999_12_31", "9999-12-31 23:59:59.999"],
      ]);
    });
  });
}
