import assert from "node:assert/strict";
import {
  parsePartitionDay,
  selectExpiredPartitions,
  toPartitionBounds,
  toPartitionDays,
  toPartitionName,
  toTimestampDay,
  toUtcDay,
} from "../../../../handler/store/schema/partitions.ts";
import { parseTimestamp } from "../../../../shared/contract/event_view.ts";

Deno.test("toUtcDay takes the UTC day, not the local one", () => {
  assert.equal(toUtcDay(new Date("2026-11-25T23:59:59.999-02:00")), "2026-11-26");
  assert.equal(toUtcDay(new Date("0001-01-01T00:00:00Z")), "0001-01-01");
});

Deno.test("toTimestampDay is the UTC day of a row timestamp, so an offset applied by parseTimestamp moves it", () => {
  assert.equal(toTimestampDay(parseTimestamp("2026-11-25T23:30:00.000001-02:00")!), "2026-11-26");
  assert.equal(toTimestampDay(parseTimestamp("2026-11-26T00:30:00.5+02:00")!), "2026-11-25");
  assert.equal(toTimestampDay(parseTimestamp("2024-03-01T00:00:00.000001+00:01")!), "2024-02-29");
  assert.equal(toTimestampDay(parseTimestamp("2026-12-31T23:59:59.9999999Z")!), "2026-12-31");
  assert.equal(toTimestampDay(parseTimestamp("0001-01-01T00:00:00Z")!), "0001-01-01");
  assert.equal(toTimestampDay(parseTimestamp("9999-12-31T23:59:59.999999Z")!), "9999-12-31");
});

Deno.test("toPartitionName names a day k8s_events_YYYY_MM_DD and refuses anything else", () => {
  assert.equal(toPartitionName("2026-11-25"), "k8s_events_2026_11_25");
  assert.throws(() => toPartitionName("2026-11-25; drop table x"), {
    name: "RangeError",
    message: 'Cannot name a partition: "2026-11-25; drop table x" is not YYYY-MM-DD',
  });
});

Deno.test("parsePartitionDay reads daily partition names and ignores other tables", () => {
  assert.equal(parsePartitionDay("k8s_events_2026_11_25"), "2026-11-25");
  assert.equal(parsePartitionDay("k8s_events_default"), undefined);
  assert.equal(parsePartitionDay("k8s_events_2026_11"), undefined);
});

Deno.test("toPartitionDays lists distinct days sorted", () => {
  const days = toPartitionDays([
    "2026-11-25T10:00:00.000000Z",
    "2021-05-05T00:00:00.000000Z",
    "2026-11-25T23:59:59.999999Z",
    "2026-11-26T00:00:00.000000Z",
  ]);
  assert.deepEqual(days, ["2021-05-05", "2026-11-25", "2026-11-26"]);
});

Deno.test("toPartitionBounds spans one UTC day, upper bound exclusive, across month and year ends", () => {
  assert.deepEqual(toPartitionBounds("2026-12-31"), {
    from: "2026-12-31T00:00:00.000Z",
    to: "2027-01-01T00:00:00.000Z",
  });
  assert.deepEqual(toPartitionBounds("2028-02-28").to, "2028-02-29T00:00:00.000Z");
});

Deno.test("toPartitionBounds ends the last storable day at year 10000 in a form PostgreSQL reads", () => {
  assert.deepEqual(toPartitionBounds("9999-12-31"), {
    from: "9999-12-31T00:00:00.000Z",
    to: "10000-01-01T00:00:00.000Z",
  });
  assert.deepEqual(toPartitionBounds("0001-01-01").from, "0001-01-01T00:00:00.000Z");
});

Deno.test("selectExpiredPartitions keeps the days within retentionDays and only daily partitions", () => {
  const names = [
    "k8s_events_2026_11_25",
    "k8s_events_2026_11_18",
    "k8s_events_2026_11_17",
    "k8s_events_2025_01_01",
    "k8s_events_default",
  ];
  assert.deepEqual(selectExpiredPartitions(names, { now: new Date("2026-11-25T10:00:00Z"), retentionDays: 7 }), [
    "k8s_events_2025_01_01",
    "k8s_events_2026_11_17",
  ]);
  assert.deepEqual(selectExpiredPartitions(names, { now: new Date("2026-11-25T10:00:00Z"), retentionDays: 1 }), [
    "k8s_events_2025_01_01",
    "k8s_events_2026_11_17",
    "k8s_events_2026_11_18",
  ]);
  assert.deepEqual(selectExpiredPartitions(names, { now: new Date("2026-11-25T10:00:00Z"), retentionDays: 0 }), []);
});
