import assert from "node:assert/strict";
import type { EventRecord } from "../../../../shared/contract/records.ts";
import { type AppHarness, assertStillServes, eventRecord, ndjson, post, withApp } from "../app_harness.ts";

type Json = Record<string, unknown>;

/** An event record with resourceVersion `version` whose event is changed by `change`. */
function eventAt(version: number, change: (event: Json) => void): EventRecord {
  const record = eventRecord({ resourceVersion: String(version) });
  change(record.event);
  return record;
}

/** created_at of every row as UTC text to the microsecond with its partition, by resourceVersion, in time order. */
async function storedTimes(h: AppHarness): Promise<[string, string, string][]> {
  const rows = await h.sql.unsafe(
    `select resource_version, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
            tableoid::regclass::text as part
       from "${h.schema}".k8s_events order by created_at, resource_version`,
  );
  return rows.map((row) => [row.resource_version, row.at, String(row.part).split(".").pop()!]);
}

Deno.test("POST /v1/events stores created_at to the microsecond in the partition of its UTC day", async () => {
  await withApp(async (h) => {
    const eventTime = (version: number, at: string) => eventAt(version, (e) => e.eventTime = at);
    const lines = [
      eventTime(1, "2020-04-24T13:38:26.252501Z"),
      eventAt(2, (e) => e.lastTimestamp = "2020-04-24T13:38:26.252Z"),
      eventAt(3, (e) => {
        delete e.lastTimestamp;
        e.firstTimestamp = "2020-04-24T13:38:26Z";
      }),
      eventTime(4, "2026-11-25T10:00:00.000000Z"),
      eventTime(5, "2020-04-24T15:38:26.252502+02:00"),
      eventTime(6, "2026-11-25T20:00:00.000001-07:00"),
      eventTime(7, "2026-11-26T01:00:00.5+02:00"),
      eventTime(8, "2026-12-31T23:59:59.999999999Z"),
      eventTime(9, "2020-04-24T13:38:26.2525039Z"),
      eventTime(10, "2020-04-24T13:38:26.2Z"),
      eventTime(11, "0001-01-01T00:00:00.000001Z"),
      eventTime(12, "9999-12-31T23:59:59.999999Z"),
      eventTime(13, "9999-12-31T23:59:59.999999-00:01"),
      eventTime(14, "0001-01-01T00:59:59.999999+01:00"),
    ];
    const result = await post(h.app, ndjson(lines));
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.accepted, 12);
    assert.deepEqual((result.body.rejected as { line: number; code: string }[]).map((r) => [r.line, r.code]), [
      [13, "INVALID_TIMESTAMP"],
      [14, "INVALID_TIMESTAMP"],
    ]);
    assert.deepEqual(await storedTimes(h), [
      ["11", "0001-01-01T00:00:00.000001Z", "k8s_events_0001_01_01"],
      ["3", "2020-04-24T13:38:26.000000Z", "k8s_events_2020_04_24"],
      ["10", "2020-04-24T13:38:26.200000Z", "k8s_events_2020_04_24"],
      ["2", "2020-04-24T13:38:26.252000Z", "k8s_events_2020_04_24"],
      ["1", "2020-04-24T13:38:26.252501Z", "k8s_events_2020_04_24"],
      ["5", "2020-04-24T13:38:26.252502Z", "k8s_events_2020_04_24"],
      // Seven digits: the seventh is cut off, where PostgreSQL given the text would have rounded up to .252504.
      ["9", "2020-04-24T13:38:26.252503Z", "k8s_events_2020_04_24"],
      ["4", "2026-11-25T10:00:00.000000Z", "k8s_events_2026_11_25"],
      ["7", "2026-11-25T23:00:00.500000Z", "k8s_events_2026_11_25"],
      ["6", "2026-11-26T03:00:00.000001Z", "k8s_events_2026_11_26"],
      // Rounding would have moved this one into 2027 and its partition.
      ["8", "2026-12-31T23:59:59.999999Z", "k8s_events_2026_12_31"],
      ["12", "9999-12-31T23:59:59.999999Z", "k8s_events_9999_12_31"],
    ]);
    // PostgreSQL's own reading of the text sent agrees wherever it has at most six fraction digits.
    const [check] = await h.sql.unsafe(
      `select count(*)::int as n from "${h.schema}".k8s_events
        where created_at = coalesce(raw->>'eventTime', raw->>'lastTimestamp', raw->>'firstTimestamp')::timestamptz`,
    );
    assert.equal(check?.n, 10);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events keeps the order of event versions one microsecond apart", async () => {
  await withApp(async (h) => {
    const at = (micros: number) => `2026-11-20T10:00:00.${String(123450 + micros).padStart(6, "0")}Z`;
    const first = [3, 0, 5].map((micros) => eventAt(micros, (e) => e.eventTime = at(micros)));
    const second = [1, 4, 2].map((micros) => eventAt(micros, (e) => e.eventTime = at(micros)));
    // The same microsecond as version 6 would have, written with an offset.
    second.push(eventAt(6, (e) => e.eventTime = "2026-11-20T11:00:00.123456+01:00"));
    for (const batch of [first, second]) {
      const result = await post(h.app, ndjson(batch));
      assert.deepEqual([result.status, result.body.accepted], [200, batch.length]);
    }
    assert.deepEqual(
      await storedTimes(h),
      [0, 1, 2, 3, 4, 5, 6].map((micros) => [String(micros), at(micros), "k8s_events_2026_11_20"]),
    );
    const steps = await h.sql.unsafe(
      `select (created_at - lag(created_at) over (order by created_at))::text as step
         from "${h.schema}".k8s_events order by created_at offset 1`,
    );
    assert.deepEqual(steps.map((row) => row.step), Array(6).fill("00:00:00.000001"));
  });
});

/** Number texts a double would not keep, each at a path inside the event: nested objects and arrays included. */
const NUMBERS: { text: string; path: string[]; stored: string }[] = [
  { text: "12345678901234567890", path: ["count"], stored: "12345678901234567890" },
  { text: "1e400", path: ["series", "count"], stored: "1" + "0".repeat(400) },
  { text: "9007199254740993", path: ["series", "nested", "a", "0"], stored: "9007199254740993" },
  { text: "-0", path: ["series", "nested", "a", "1"], stored: "0" },
  { text: "1E5", path: ["series", "nested", "a", "2", "b"], stored: "100000" },
  { text: "0.1", path: ["source", "n", "0"], stored: "0.1" },
  { text: "1e-400", path: ["source", "n", "1", "0"], stored: "0." + "0".repeat(399) + "1" },
  { text: "9".repeat(200), path: ["source", "n", "1", "1", "deep"], stored: "9".repeat(200) },
  { text: "1.50", path: ["source", "x"], stored: "1.50" },
  { text: "-1e400", path: ["series", "nested", "c"], stored: "-1" + "0".repeat(400) },
];

/** The event line with every NUMBERS entry at its path, written as its text. */
function numbersLine(version: number): string {
  const record = eventAt(version, (e) => {
    e.count = "#0";
    e.series = {
      count: "#1",
      lastObservedTime: "2026-11-20T10:00:02.000000Z",
      nested: { a: ["#2", "#3", { b: "#4" }] },
    };
    (e.series as { nested: Json }).nested.c = "#9";
    e.source = { component: "kubelet", n: ["#5", ["#6", { deep: "#7" }]], x: "#8" };
  });
  return JSON.stringify(record).replace(/"#(\d)"/g, (_, i) => NUMBERS[Number(i)]!.text);
}

Deno.test("POST /v1/events stores numbers as sent: raw holds what jsonb reads from the text sent", async () => {
  await withApp(async (h) => {
    const line = numbersLine(1);
    const result = await post(h.app, ndjson([line]));
    assert.deepEqual([result.status, result.body], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
    for (const { text, path, stored } of NUMBERS) {
      const [row] = await h.sql.unsafe(
        `select (raw #> $1::text[])::text as stored, ($2::text::jsonb #> $3::text[])::text as sent,
                raw #> $1::text[] = $2::text::jsonb #> $3::text[] as is_equal
           from "${h.schema}".k8s_events`,
        [path, line, ["event", ...path]],
      );
      assert.deepEqual([row?.stored, row?.sent, row?.is_equal], [stored, stored, true], text.slice(0, 30));
    }
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses a number jsonb cannot hold with NUMBER_OUT_OF_RANGE and stores the rest", async () => {
  await withApp(async (h) => {
    const tooLarge = numbersLine(2).replace("1e400", "1e131072");
    const tooFine = numbersLine(3).replace("1e-400", "1e-16384");
    const result = await post(h.app, ndjson([numbersLine(1), tooLarge, tooFine, numbersLine(4)]));
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, {
      accepted: 2,
      duplicates: 0,
      rejected: [2, 3].map((line) => ({
        line,
        code: "NUMBER_OUT_OF_RANGE",
        message: `Cannot store line ${line}: the event holds a number PostgreSQL's numeric cannot hold ` +
          "(more than 131072 digits before the decimal point or 16383 after it)",
      })),
    });
    const rows = await h.sql.unsafe(`select resource_version from "${h.schema}".k8s_events order by 1`);
    assert.deepEqual(rows.map((row) => row.resource_version), ["1", "4"]);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores lines filled with the largest numbers numeric holds, from requests at once", async () => {
  await withApp(async (h) => {
    // Seven numbers of 131,072 digits: about 900 kB, the largest such line under LINE_BYTES_MAX (1 MiB).
    const largest = (digit: number) => String(digit).repeat(131_072);
    const lineOf = (version: number) => {
      const text = numbersLine(version).replace('"x":1.50', `"x":[${[1, 2, 3, 4, 5, 6, 7].map(largest).join(",")}]`);
      assert.ok(text.length > 900_000 && text.length < 1024 * 1024, String(text.length));
      return text;
    };
    const lines = [1, 2, 3, 4].map(lineOf);
    const results = await Promise.all(lines.map((line) => post(h.app, ndjson([line, eventRecord()]))));
    assert.deepEqual(results.map((r) => [r.status, r.body.accepted, r.body.rejected]), Array(4).fill([200, 2, []]));
    const rows = await h.sql.unsafe(
      `select resource_version, raw #> '{source,x}' = $1::text::jsonb #> '{event,source,x}' as is_equal,
              length((raw #> '{source,x,6}')::text) as digits
         from "${h.schema}".k8s_events where raw ? 'series' order by resource_version`,
      [lines[0]!],
    );
    assert.deepEqual(rows.map((row) => [row.resource_version, row.is_equal, row.digits]), [
      ["1", true, 131_072],
      ["2", true, 131_072],
      ["3", true, 131_072],
      ["4", true, 131_072],
    ]);
  });
});
