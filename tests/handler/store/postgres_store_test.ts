import assert from "node:assert/strict";
import { withTestSchema } from "../../support/database.ts";
import { findFreePort } from "../../../handler/dev/embedded_database.ts";
import { FencedError, StoreUnavailableError } from "../../../handler/store/store.ts";
import type { PostgresStore } from "../../../handler/store/postgres_store.ts";
import type { GapRecord } from "../../../shared/contract/records.ts";
import {
  applyKrateoSchema,
  listenForCluster,
  makeRow,
  openStore,
  type SchemaPath,
  uniqueCluster,
  withStore,
} from "./store_support.ts";

const PATHS: SchemaPath[] = ["created by the store", "existing Krateo schema"];

function batchOf(
  cluster: string,
  rows: ReturnType<typeof makeRow>[],
  extra: Partial<Parameters<PostgresStore["writeBatch"]>[0]> = {},
) {
  return { cluster, rows, gaps: [], resumeVersion: null, fence: null, ...extra };
}

for (const path of PATHS) {
  Deno.test(`PostgresStore.writeBatch stores rows and sends one exact NOTIFY per inserted row (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const listener = await listenForCluster(cluster);
      try {
        const rows = [1, 2, 3].map((n) => makeRow(cluster, n));
        assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), {
          inserted: 3,
          duplicates: 0,
          gapsInserted: 0,
        });
        await listener.waitFor(3);
        const expected = await sql.unsafe(
          `select json_build_object('event_id', event_id, 'global_uid', global_uid)::text as payload
             from "${schema}".k8s_events order by global_uid`,
        );
        assert.deepEqual([...listener.payloads].sort(), expected.map((row) => row.payload).sort());
        assert.equal(listener.payloads.length, 3);
      } finally {
        await listener.close();
      }
    });
  });

  Deno.test(`PostgresStore.writeBatch counts repeats within a batch and replays as duplicates, without NOTIFY (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const listener = await listenForCluster(cluster);
      try {
        const rows = [makeRow(cluster, 1), makeRow(cluster, 2), makeRow(cluster, 1), makeRow(cluster, 2)];
        assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), {
          inserted: 2,
          duplicates: 2,
          gapsInserted: 0,
        });
        assert.deepEqual(
          await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1), makeRow(cluster, 2)])),
          { inserted: 0, duplicates: 2, gapsInserted: 0 },
        );
        // A later row's notification arrives after any the replay could have sent (delivery is in commit order).
        assert.deepEqual(await store.writeBatch(batchOf(cluster, [makeRow(cluster, 3)])), {
          inserted: 1,
          duplicates: 0,
          gapsInserted: 0,
        });
        await listener.waitFor(3);
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(listener.payloads.length, 3);
        const count = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
        assert.equal(count[0]?.n, 3);
      } finally {
        await listener.close();
      }
    });
  });

  Deno.test(`PostgresStore.writeBatch inserts and announces only the new rows of a batch mixing stored and new (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const listener = await listenForCluster(cluster);
      try {
        await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1), makeRow(cluster, 2)]));
        const mixed = [makeRow(cluster, 3), makeRow(cluster, 1), makeRow(cluster, 4), makeRow(cluster, 2)];
        assert.deepEqual(await store.writeBatch(batchOf(cluster, mixed)), {
          inserted: 2,
          duplicates: 2,
          gapsInserted: 0,
        });
        // The batches after a replay take the deduplicating path; their counts are the same.
        assert.deepEqual(await store.writeBatch(batchOf(cluster, [makeRow(cluster, 5)])), {
          inserted: 1,
          duplicates: 0,
          gapsInserted: 0,
        });
        await listener.waitFor(5);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const uids = listener.payloads.map((payload) => (JSON.parse(payload) as { global_uid: string }).global_uid);
        assert.deepEqual(uids.sort(), [1, 2, 3, 4, 5].map((n) => makeRow(cluster, n).globalUid).sort());
        const count = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
        assert.equal(count[0]?.n, 5);
      } finally {
        await listener.close();
      }
    });
  });

  Deno.test(`PostgresStore.writeBatch keeps SQL metacharacters, quotes, backslashes, tabs, newlines and unicode byte for byte (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const odd = `'; drop table k8s_events; -- "q" \\ \\N \\\\ \t tab\nline\r\n ü 漢字 🎉 $1 %s \b\f \u2028 ${"$$"}`;
      const row = makeRow(cluster, 1, {
        namespace: `ns${odd}`,
        resourceKind: `kind${odd}`,
        resourceName: `name${odd}`,
        involvedObjectUid: `io${odd}`,
        eventType: `type${odd}`,
        reason: `reason${odd}`,
        message: `message${odd}`,
        uid: `uid${odd}`,
        globalUid: `${cluster}:uid${odd}`,
        resourceVersion: `rv${odd}`,
        raw: JSON.stringify({ message: odd, nested: { "key\t'\"": [odd] } }),
      });
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [row])), {
        inserted: 1,
        duplicates: 0,
        gapsInserted: 0,
      });
      const stored = await sql.unsafe(
        `select cluster_name, uid, global_uid, namespace, resource_kind, resource_name, involved_object_uid,
                event_type, reason, message, resource_version, raw::text as raw, created_at
           from "${schema}".k8s_events`,
      );
      assert.equal(stored.length, 1);
      const got = stored[0]!;
      assert.equal(got.cluster_name, cluster);
      assert.equal(got.uid, row.uid);
      assert.equal(got.global_uid, row.globalUid);
      assert.equal(got.namespace, row.namespace);
      assert.equal(got.resource_kind, row.resourceKind);
      assert.equal(got.resource_name, row.resourceName);
      assert.equal(got.involved_object_uid, row.involvedObjectUid);
      assert.equal(got.event_type, row.eventType);
      assert.equal(got.reason, row.reason);
      assert.equal(got.message, row.message);
      assert.equal(got.resource_version, row.resourceVersion);
      assert.deepEqual(JSON.parse(got.raw), JSON.parse(row.raw));
      assert.equal((got.created_at as Date).toISOString(), "2026-11-20T10:00:00.000Z");
    });
  });

  Deno.test(`PostgresStore.writeBatch creates daily partitions for past and future days (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const rows = [
        makeRow(cluster, 1, { createdAt: new Date("2021-05-05T16:22:15Z") }),
        makeRow(cluster, 2, { createdAt: new Date("1999-12-31T23:59:59.999Z") }),
        makeRow(cluster, 3, { createdAt: new Date("2031-01-01T00:00:00Z") }),
      ];
      assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), { inserted: 3, duplicates: 0, gapsInserted: 0 });
      const partitions = await sql.unsafe(
        `select c.relname as name, count(*)::int as rows
           from "${schema}".k8s_events e join pg_class c on c.oid = e.tableoid group by 1 order by 1`,
      );
      assert.deepEqual(partitions.map((p) => [p.name, p.rows]), [
        ["k8s_events_1999_12_31", 1],
        ["k8s_events_2021_05_05", 1],
        ["k8s_events_2031_01_01", 1],
      ]);
      const indexes = await sql.unsafe(
        `select tablename, indexdef from pg_indexes
          where schemaname = $1 and tablename like 'k8s_events_%' and indexdef like 'CREATE UNIQUE %'
          order by tablename`,
        [schema],
      );
      assert.equal(indexes.length, 3);
      for (const index of indexes) {
        assert.match(String(index.indexdef), /^CREATE UNIQUE INDEX .* USING btree \(global_uid, resource_version\)$/);
      }
    });
  });

  Deno.test(`PostgresStore.writeBatch refuses an older fence and a same-transitions other holder, writing nothing (${path})`, async () => {
    await withStore(path, async (store, sql, schema) => {
      const cluster = uniqueCluster();
      const first = batchOf(cluster, [makeRow(cluster, 1)], {
        fence: { holder: "relay-a", transitions: 5 },
        resumeVersion: "100",
      });
      assert.deepEqual(await store.writeBatch(first), { inserted: 1, duplicates: 0, gapsInserted: 0 });
      const gap: GapRecord = {
        v: 1,
        kind: "gap",
        cluster,
        from: "1",
        to: "2",
        reason: "WATCH_EXPIRED",
        observedAt: "2026-11-20T10:00:00Z",
      };
      for (const fence of [{ holder: "relay-b", transitions: 4 }, { holder: "relay-b", transitions: 5 }]) {
        await assert.rejects(
          store.writeBatch(batchOf(cluster, [makeRow(cluster, 2)], { fence, resumeVersion: "200", gaps: [gap] })),
          (error: unknown) => {
            assert.ok(error instanceof FencedError);
            assert.equal(
              error.message,
              `Cannot write batch of cluster ${cluster}: writer relay-b at transition ${fence.transitions}` +
                ` is older than relay-a at transition 5`,
            );
            assert.deepEqual(error.newest, { holder: "relay-a", transitions: 5 });
            return true;
          },
        );
      }
      const rows = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
      assert.equal(rows[0]?.n, 1);
      const gaps = await sql.unsafe(`select count(*)::int as n from "${schema}".ingester_gaps`);
      assert.equal(gaps[0]?.n, 0);
      const checkpoint = await store.readCheckpoint(cluster);
      assert.equal(checkpoint.resumeVersion, "100");
      assert.deepEqual(checkpoint.fence, { holder: "relay-a", transitions: 5 });
      // A newer leader is accepted and becomes the newest; the old one is refused from then on.
      const newer = batchOf(cluster, [makeRow(cluster, 3)], { fence: { holder: "relay-b", transitions: 6 } });
      assert.deepEqual(await store.writeBatch(newer), { inserted: 1, duplicates: 0, gapsInserted: 0 });
      assert.deepEqual((await store.readCheckpoint(cluster)).fence, { holder: "relay-b", transitions: 6 });
      await assert.rejects(
        store.writeBatch(batchOf(cluster, [], { fence: { holder: "relay-a", transitions: 5 } })),
        FencedError,
      );
    });
  });
}

Deno.test("PostgresStore.writeBatch stores gap records once and the resume point with the rows", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    assert.deepEqual(await store.readCheckpoint(cluster), {
      cluster,
      resumeVersion: null,
      fence: null,
      updatedAt: null,
    });
    const gaps: GapRecord[] = [
      {
        v: 1,
        kind: "gap",
        cluster,
        from: null,
        to: "500",
        reason: "WATCH_EXPIRED",
        observedAt: "2026-11-20T10:00:00Z",
      },
      {
        v: 1,
        kind: "gap",
        cluster,
        from: "600",
        to: "700",
        reason: "WATCH_EXPIRED",
        observedAt: "2026-11-20T11:00:00Z",
      },
    ];
    const batch = batchOf(cluster, [makeRow(cluster, 1)], { gaps, resumeVersion: "701" });
    assert.deepEqual(await store.writeBatch(batch), { inserted: 1, duplicates: 0, gapsInserted: 2 });
    assert.deepEqual(await store.writeBatch(batch), { inserted: 0, duplicates: 1, gapsInserted: 0 });
    const stored = await sql.unsafe(
      `select cluster, from_version, to_version, reason, observed_at from "${schema}".ingester_gaps order by id`,
    );
    assert.deepEqual(
      stored.map((g) => [g.cluster, g.from_version, g.to_version, g.reason, (g.observed_at as Date).toISOString()]),
      [
        [cluster, null, "500", "WATCH_EXPIRED", "2026-11-20T10:00:00.000Z"],
        [cluster, "600", "700", "WATCH_EXPIRED", "2026-11-20T11:00:00.000Z"],
      ],
    );
    const checkpoint = await store.readCheckpoint(cluster);
    assert.equal(checkpoint.resumeVersion, "701");
    assert.equal(checkpoint.fence, null);
    assert.match(checkpoint.updatedAt ?? "", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // A batch without a resume point leaves the stored one as it is.
    await store.writeBatch(batchOf(cluster, [makeRow(cluster, 2)]));
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, "701");
    await store.writeBatch(batchOf(cluster, [], { resumeVersion: "900" }));
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, "900");
  });
});

Deno.test("PostgresStore.writeBatch writes nothing when a statement of the batch fails", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const badGap = { v: 1, kind: "gap", cluster, from: null, to: "1", reason: "X", observedAt: "not a time" };
    await assert.rejects(
      store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)], { gaps: [badGap as GapRecord], resumeVersion: "5" })),
      (error: unknown) => error instanceof Error && !(error instanceof StoreUnavailableError),
    );
    const rows = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
    assert.equal(rows[0]?.n, 0);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
    // The store keeps working after the failed transaction.
    assert.deepEqual(await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)])), {
      inserted: 1,
      duplicates: 0,
      gapsInserted: 0,
    });
  });
});

Deno.test("PostgresStore.writeBatch from two stores creating the same new day at once both succeed", async () => {
  await withTestSchema(async (schema, sql) => {
    const stores = [openStore(schema), openStore(schema), openStore(schema)];
    try {
      await stores[0]!.migrate();
      const cluster = uniqueCluster();
      const day = new Date("2027-03-04T05:06:07Z");
      const results = await Promise.all(
        stores.map((store, i) => store.writeBatch(batchOf(cluster, [makeRow(cluster, i, { createdAt: day })]))),
      );
      assert.deepEqual(results, [0, 1, 2].map(() => ({ inserted: 1, duplicates: 0, gapsInserted: 0 })));
      const partitions = await sql.unsafe(
        `select count(*)::int as n from pg_tables where schemaname = $1 and tablename = 'k8s_events_2027_03_04'`,
        [schema],
      );
      assert.equal(partitions[0]?.n, 1);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});

Deno.test("PostgresStore.dropExpiredPartitions drops whole days older than retentionDays and the store recreates on demand", async () => {
  await withTestSchema(async (schema, sql) => {
    const store = openStore(schema, { retentionDays: 7 });
    try {
      await store.migrate();
      const cluster = uniqueCluster();
      const days = ["2026-11-10", "2026-11-17", "2026-11-18", "2026-11-25", "2026-11-30"];
      const rows = days.map((day, i) => makeRow(cluster, i, { createdAt: new Date(`${day}T12:00:00Z`) }));
      await store.writeBatch(batchOf(cluster, rows));
      assert.deepEqual(await store.dropExpiredPartitions(new Date("2026-11-25T10:00:00Z")), [
        "k8s_events_2026_11_10",
        "k8s_events_2026_11_17",
      ]);
      assert.deepEqual(await store.dropExpiredPartitions(new Date("2026-11-25T10:00:00Z")), []);
      const left = await sql.unsafe(
        `select tablename from pg_tables where schemaname = $1 and tablename like 'k8s_events_%' order by 1`,
        [schema],
      );
      assert.deepEqual(left.map((t) => t.tablename), [
        "k8s_events_2026_11_18",
        "k8s_events_2026_11_25",
        "k8s_events_2026_11_30",
      ]);
      // A late event for a dropped day gets its partition back.
      assert.deepEqual(
        await store.writeBatch(
          batchOf(cluster, [makeRow(cluster, 9, { createdAt: new Date("2026-11-10T01:00:00Z") })]),
        ),
        {
          inserted: 1,
          duplicates: 0,
          gapsInserted: 0,
        },
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.writeBatch recreates a partition dropped by another replica after it was cached", async () => {
  await withTestSchema(async (schema, sql) => {
    const store = openStore(schema);
    try {
      await store.migrate();
      const cluster = uniqueCluster();
      await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)]));
      await sql.unsafe(`drop table "${schema}".k8s_events_2026_11_20`);
      assert.deepEqual(await store.writeBatch(batchOf(cluster, [makeRow(cluster, 2)])), {
        inserted: 1,
        duplicates: 0,
        gapsInserted: 0,
      });
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.dropExpiredPartitions does nothing when retentionDays is 0", async () => {
  await withTestSchema(async (schema) => {
    const store = openStore(schema, { retentionDays: 0 });
    try {
      await store.migrate();
      const cluster = uniqueCluster();
      await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1, { createdAt: new Date("2000-01-01T00:00:00Z") })]));
      assert.deepEqual(await store.dropExpiredPartitions(new Date("2026-11-25T00:00:00Z")), []);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore.isReady is true only once migrated and while k8s_events exists", async () => {
  await withTestSchema(async (schema, sql) => {
    const store = openStore(schema);
    try {
      assert.equal(await store.isReady(), false);
      await store.migrate();
      assert.equal(await store.isReady(), true);
      await sql.unsafe(`drop table "${schema}".k8s_events`);
      assert.equal(await store.isReady(), false);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore answers StoreUnavailableError when the database is unreachable, and isReady is false", async () => {
  const port = await findFreePort();
  const logs: string[] = [];
  const store = openStore(
    "public",
    { url: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutS: 1 },
    logs,
  );
  try {
    const cluster = uniqueCluster();
    await assert.rejects(store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)])), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(
        error.message,
        `Cannot write batch of cluster ${cluster}: the database is unavailable (ECONNREFUSED)`,
      );
      return true;
    });
    await assert.rejects(store.readCheckpoint(cluster), StoreUnavailableError);
    assert.equal(await store.isReady(), false);
    await assert.rejects(store.waitUntilReachable({ timeoutS: 0.6 }), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(error.message, "Cannot reach the database: no answer within 0.6 s (ECONNREFUSED)");
      return true;
    });
    await assert.rejects(store.migrate(), StoreUnavailableError);
  } finally {
    await store.close();
  }
});

Deno.test("PostgresStore.waitUntilReachable returns at once when the database answers and honours its signal", async () => {
  await withTestSchema(async (schema) => {
    const store = openStore(schema);
    try {
      await store.waitUntilReachable({ timeoutS: 5 });
      const controller = new AbortController();
      controller.abort(new Error("stopped"));
      await assert.rejects(store.waitUntilReachable({ timeoutS: 5, signal: controller.signal }), /stopped/);
    } finally {
      await store.close();
    }
  });
});

Deno.test("PostgresStore commits a batch without the 40 ms Nagle stall (TCP_NODELAY is in effect)", async () => {
  await withStore("created by the store", async (store) => {
    const cluster = uniqueCluster();
    await store.writeBatch(batchOf(cluster, [makeRow(cluster, 0)]));
    const started = performance.now();
    for (let i = 1; i <= 20; i++) await store.writeBatch(batchOf(cluster, [makeRow(cluster, i)]));
    const perBatchMs = (performance.now() - started) / 20;
    // With Nagle on, each COPY commit waits for the peer's delayed ACK: 40 ms or more per batch.
    assert.ok(perBatchMs < 30, `a one-row batch took ${perBatchMs.toFixed(1)} ms on average`);
  });
});

Deno.test("PostgresStore.writeBatch fails, without hanging, when the database refuses a row's data, and writes nothing", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const rows = Array.from({ length: 2_000 }, (_, i) => makeRow(cluster, i, { message: "x".repeat(500) }));
    rows[1_999] = makeRow(cluster, 1_999, { raw: "{not json" });
    await assert.rejects(store.writeBatch(batchOf(cluster, rows, { resumeVersion: "9" })), {
      name: "PostgresError",
      message: "current transaction is aborted, commands ignored until end of transaction block",
    });
    const count = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
    assert.equal(count[0]?.n, 0);
    assert.equal((await store.readCheckpoint(cluster)).resumeVersion, null);
    assert.deepEqual(await store.writeBatch(batchOf(cluster, rows.slice(0, 10))), {
      inserted: 10,
      duplicates: 0,
      gapsInserted: 0,
    });
  });
});

Deno.test("PostgresStore.writeBatch refuses a NUL character with RangeError, writes nothing and keeps working", async () => {
  await withStore("created by the store", async (store, sql, schema) => {
    const cluster = uniqueCluster();
    const rows = [makeRow(cluster, 1), makeRow(cluster, 2, { message: "a\u0000b" })];
    await assert.rejects(store.writeBatch(batchOf(cluster, rows)), {
      name: "RangeError",
      message: "Cannot encode a value for COPY: it contains a NUL character",
    });
    const count = await sql.unsafe(`select count(*)::int as n from "${schema}".k8s_events`);
    assert.equal(count[0]?.n, 0);
    assert.deepEqual(await store.writeBatch(batchOf(cluster, [makeRow(cluster, 1)])), {
      inserted: 1,
      duplicates: 0,
      gapsInserted: 0,
    });
  });
});

Deno.test("PostgresStore.writeBatch uses another owner's wider partition or default partition holding the day", async () => {
  await withTestSchema(async (schema, sql) => {
    await applyKrateoSchema(sql, schema);
    await sql.unsafe(
      `create table "${schema}".k8s_events_2026_11 partition of "${schema}".k8s_events
         for values from ('2026-11-01T00:00:00Z') to ('2026-12-01T00:00:00Z')`,
    );
    await sql.unsafe(`create unique index on "${schema}".k8s_events_2026_11 (global_uid, resource_version)`);
    await sql.unsafe(`create table "${schema}".k8s_events_default partition of "${schema}".k8s_events default`);
    const cluster = uniqueCluster();
    const early = makeRow(cluster, 1, { createdAt: new Date("2026-10-10T10:00:00Z") });
    await sql.unsafe(
      `insert into "${schema}".k8s_events (created_at, cluster_name, uid, global_uid, raw, resource_version)
       values ($1, $2, $3, $4, $5::jsonb, $6)`,
      [early.createdAt, cluster, early.uid, early.globalUid, early.raw, early.resourceVersion],
    );
    const store = openStore(schema);
    try {
      await store.migrate();
      const rows = [makeRow(cluster, 2), makeRow(cluster, 3, { createdAt: new Date("2026-10-10T11:00:00Z") })];
      assert.deepEqual(await store.writeBatch(batchOf(cluster, rows)), { inserted: 2, duplicates: 0, gapsInserted: 0 });
      const placed = await sql.unsafe(
        `select c.relname as partition, e.resource_version from "${schema}".k8s_events e
           join pg_class c on c.oid = e.tableoid order by e.resource_version`,
      );
      assert.deepEqual(placed.map((p) => [p.partition, p.resource_version]), [
        ["k8s_events_default", "1001"],
        ["k8s_events_2026_11", "1002"],
        ["k8s_events_default", "1003"],
      ]);
    } finally {
      await store.close();
    }
  });
});
