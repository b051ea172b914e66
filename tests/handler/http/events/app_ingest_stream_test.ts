import assert from "node:assert/strict";
import type { EventRecord } from "../../../../shared/contract/records.ts";
import {
  assertProblem,
  assertStillServes,
  countRows,
  eventRecord,
  gapRecord,
  ndjson,
  post,
  storedRows,
  uidOf,
  withApp,
} from "../app_harness.ts";
import { gzip } from "../../../support/gzip.ts";

/** Enough records for several row chunks (a chunk is handed to the store at about 128 Ki characters of `raw`). */
const MANY = 1200;

function withEvent(record: EventRecord, change: (event: Record<string, unknown>) => void): EventRecord {
  change(record.event as Record<string, unknown>);
  return record;
}

async function checkpointOf(h: Parameters<Parameters<typeof withApp>[0]>[0]): Promise<unknown> {
  const rows = await h.sql.unsafe(`select resume_version from "${h.schema}".ingester_checkpoints`);
  return rows[0]?.resume_version;
}

Deno.test("POST /v1/events rejects an unpaired surrogate escape with INVALID_UNICODE and stores the other lines", async () => {
  await withApp(async (h) => {
    const first = eventRecord();
    const lone = JSON.stringify(eventRecord()).replace('"Successfully pulled image"', '"pulled \\ud800 image"');
    const loneKey = withEvent(eventRecord(), (e) => e.annotations = { ["k\udfff"]: "v" });
    const pair = JSON.stringify(eventRecord()).replace('"Successfully pulled image"', '"pulled \\ud83d\\ude80 image"');
    const last = eventRecord();
    const result = await post(h.app, ndjson([first, lone, loneKey, pair, last]));
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, {
      accepted: 3,
      duplicates: 0,
      rejected: [2, 3].map((line) => ({
        line,
        code: "INVALID_UNICODE",
        message: `Cannot store line ${line}: a string contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)`,
      })),
    });
    const rows = await storedRows(h.sql, h.schema);
    assert.deepEqual(rows.map((r) => r.message).sort(), [
      "Successfully pulled image",
      "Successfully pulled image",
      "pulled \u{1F680} image",
    ]);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events rejects values PostgreSQL would refuse with a line code and stores the other lines", async () => {
  await withApp(async (h) => {
    const lines = [
      eventRecord(), // 1
      withEvent(eventRecord(), (e) => e.lastTimestamp = "0000-12-31T00:00:00Z"), // 2 year 0
      withEvent(eventRecord(), (e) => e.lastTimestamp = "9999-12-31T23:00:00-01:00"), // 3 year 10000 in UTC
      withEvent(eventRecord(), (e) => (e.metadata as Record<string, unknown>).uid = "u".repeat(3000)), // 4 index key
      { ...gapRecord(), reason: "R".repeat(3000) }, // 5 index key
      withEvent(eventRecord(), (e) => e.count = 1e308), // 6 huge numbers are fine in jsonb
      withEvent(eventRecord(), (e) => e.lastTimestamp = "0001-01-01T00:00:00Z"), // 7 earliest storable day
    ];
    const result = await post(h.app, ndjson(lines));
    assert.equal(result.status, 200);
    assert.equal(result.body.accepted, 3);
    const rejected = result.body.rejected as { line: number; code: string }[];
    assert.deepEqual(rejected.map((r) => [r.line, r.code]), [
      [2, "INVALID_TIMESTAMP"],
      [3, "INVALID_TIMESTAMP"],
      [4, "INVALID_FIELD"],
      [5, "INVALID_FIELD"],
    ]);
    const rows = await storedRows(h.sql, h.schema);
    // As text: the client library's Date parsing reads year 1 as 2001.
    const days = await h.sql.unsafe(
      `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as at, tableoid::regclass::text as part
         from "${h.schema}".k8s_events order by created_at`,
    );
    assert.deepEqual(days.map((d) => [d.at, String(d.part).split(".").pop()]), [
      ["0001-01-01 00:00:00", "k8s_events_0001_01_01"],
      ["2026-11-20 10:00:01", "k8s_events_2026_11_20"],
      ["2026-11-20 10:00:01", "k8s_events_2026_11_20"],
    ]);
    assert.deepEqual(rows.map((r) => (r.raw as { count?: number }).count).sort(), [1, 1, 1e308]);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores a batch of many chunks: days met late, repeats and a stored row in a later chunk", async () => {
  await withApp(async (h) => {
    const records = Array.from({ length: MANY }, () => eventRecord());
    const stored = records[900]!;
    assert.deepEqual((await post(h.app, ndjson([stored]))).body, { accepted: 1, duplicates: 0, rejected: [] });
    // Days no partition exists for yet, first met in later chunks.
    withEvent(records[700]!, (e) => e.lastTimestamp = "2019-05-05T05:05:05Z");
    withEvent(records[1100]!, (e) => e.lastTimestamp = "2031-01-01T00:00:00Z");
    const body = ndjson([...records, records[10]!, records[600]!]);
    const result = await post(h.app, body, { headers: { "ingester-resume-version": "4242" } });
    assert.deepEqual([result.status, result.body], [200, { accepted: MANY - 1, duplicates: 3, rejected: [] }]);
    assert.equal(await countRows(h.sql, h.schema), MANY);
    const rows = await storedRows(h.sql, h.schema);
    assert.deepEqual([rows[0]?.uid, rows[MANY - 1]?.uid], [uidOf(records[700]!), uidOf(records[1100]!)]);
    assert.equal(await checkpointOf(h), "4242");
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores nothing of a body that breaks after several chunks were written", async () => {
  await withApp(async (h) => {
    const headers = { "ingester-resume-version": "77" };
    const over = await post(h.app, ndjson(Array.from({ length: MANY + 1 }, () => eventRecord())), { headers });
    assertProblem(over, 413, "TOO_MANY_RECORDS");
    const zipped = await gzip(ndjson(Array.from({ length: MANY }, () => eventRecord())));
    const truncated = zipped.slice(0, Math.floor(zipped.length * 0.9));
    const broken = await h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: {
          authorization: "Bearer token-of-cluster-a",
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
          ...headers,
        },
        body: truncated,
      }),
    );
    assert.equal(broken.status, 400);
    assert.equal((await broken.json()).code, "INVALID_GZIP");
    assert.equal(await countRows(h.sql, h.schema), 0);
    assert.equal(await checkpointOf(h), undefined);
    await assertStillServes(h);
  }, { RECORDS_MAX: String(MANY) });
});
