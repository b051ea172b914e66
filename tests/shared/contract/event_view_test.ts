import assert from "node:assert/strict";
import { parseTimestamp } from "../../../shared/contract/event_view.ts";

Deno.test("parseTimestamp keeps a UTC timestamp's microseconds and writes six fraction digits", () => {
  assert.equal(parseTimestamp("2020-04-24T13:38:26.252501Z"), "2020-04-24T13:38:26.252501Z");
  assert.equal(parseTimestamp("2020-04-24T13:38:26.252Z"), "2020-04-24T13:38:26.252000Z");
  assert.equal(parseTimestamp("2020-04-24T13:38:26Z"), "2020-04-24T13:38:26.000000Z");
  // MicroTime, as the API server writes eventTime.
  assert.equal(parseTimestamp("2026-11-25T10:00:00.000000Z"), "2026-11-25T10:00:00.000000Z");
});

Deno.test("parseTimestamp reads 1 to 9 fraction digits and cuts those past the microsecond off, never rounding", () => {
  const fractions = ["5", "25", "252", "2525", "25250", "252501", "2525019", "25250199", "252501999"];
  assert.deepEqual(fractions.map((digits) => parseTimestamp(`2020-04-24T13:38:26.${digits}Z`)), [
    "2020-04-24T13:38:26.500000Z",
    "2020-04-24T13:38:26.250000Z",
    "2020-04-24T13:38:26.252000Z",
    "2020-04-24T13:38:26.252500Z",
    "2020-04-24T13:38:26.252500Z",
    "2020-04-24T13:38:26.252501Z",
    "2020-04-24T13:38:26.252501Z",
    "2020-04-24T13:38:26.252501Z",
    "2020-04-24T13:38:26.252501Z",
  ]);
  // Rounding would move this one to the next day, and so into another partition.
  assert.equal(parseTimestamp("2026-12-31T23:59:59.999999999Z"), "2026-12-31T23:59:59.999999Z");
  assert.equal(parseTimestamp("2020-04-24T13:38:26.1234567890Z"), undefined);
  assert.equal(parseTimestamp("2020-04-24T13:38:26.Z"), undefined);
});

Deno.test("parseTimestamp applies +hh:mm and -hh:mm offsets and keeps the fraction", () => {
  assert.equal(parseTimestamp("2020-04-24T15:38:26.252501+02:00"), "2020-04-24T13:38:26.252501Z");
  assert.equal(parseTimestamp("2020-04-24T06:38:26.252501-07:00"), "2020-04-24T13:38:26.252501Z");
  assert.equal(parseTimestamp("2020-04-24T13:38:26-00:00"), "2020-04-24T13:38:26.000000Z");
  assert.equal(parseTimestamp("2020-04-24T19:08:26.2525019+05:30"), "2020-04-24T13:38:26.252501Z");
});

Deno.test("parseTimestamp moves an instant across midnight, month, leap day and year ends by its offset", () => {
  assert.equal(parseTimestamp("2026-11-25T23:30:00.000001-02:00"), "2026-11-26T01:30:00.000001Z");
  assert.equal(parseTimestamp("2026-11-26T00:30:00.5+02:00"), "2026-11-25T22:30:00.500000Z");
  assert.equal(parseTimestamp("2024-03-01T00:00:00.000001+00:01"), "2024-02-29T23:59:00.000001Z");
  assert.equal(parseTimestamp("2026-12-31T23:30:00.999999-01:00"), "2027-01-01T00:30:00.999999Z");
});

Deno.test("parseTimestamp agrees with Date to the millisecond on random instants and offsets", () => {
  // Date is an independent reader of the same text; the digits past the millisecond are checked separately.
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 2000; i++) {
    const ms = Date.UTC(1970 + random(100), random(12), 1 + random(28), random(24), random(60), random(60));
    const offsetMinutes = (random(2) === 0 ? -1 : 1) * random(24 * 60);
    const micros = String(random(1_000_000)).padStart(6, "0");
    const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
    const hh = String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, "0");
    const mm = String(Math.abs(offsetMinutes) % 60).padStart(2, "0");
    const text = `${local}.${micros}${offsetMinutes < 0 ? "-" : "+"}${hh}:${mm}`;
    const expected = `${new Date(text).toISOString().slice(0, 19)}.${micros}Z`;
    assert.equal(parseTimestamp(text), expected, text);
  }
});

Deno.test("parseTimestamp accepts instants of years 0001-9999 once the offset is applied, and no others", () => {
  assert.equal(parseTimestamp("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00.000000Z");
  assert.equal(parseTimestamp("0000-12-31T23:00:00-01:00"), "0001-01-01T00:00:00.000000Z");
  assert.equal(parseTimestamp("9999-12-31T23:59:59.999999Z"), "9999-12-31T23:59:59.999999Z");
  assert.equal(parseTimestamp("9999-12-31T22:59:59.999999-01:00"), "9999-12-31T23:59:59.999999Z");
  assert.equal(parseTimestamp("0000-12-31T23:59:59.999999Z"), undefined);
  assert.equal(parseTimestamp("0001-01-01T00:59:59.999999+01:00"), undefined);
  assert.equal(parseTimestamp("9999-12-31T23:59:59.999999-00:01"), undefined);
});

Deno.test("parseTimestamp refuses what is not an RFC 3339 timestamp of a real day", () => {
  for (
    const text of [
      "2026-02-29T00:00:00Z",
      "2100-02-29T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-11-25T24:00:00Z",
      "2026-11-25T23:60:00Z",
      "2026-11-25T23:59:60Z",
      "2026-11-25T10:00:00+24:00",
      "2026-11-25T10:00:00+01:60",
      "2026-11-25T10:00:00",
      "2026-11-25 10:00:00Z",
      "2026-11-25T10:00:00z",
      "2026-11-25T10:00:00+0100",
    ]
  ) {
    assert.equal(parseTimestamp(text), undefined, text);
  }
  assert.equal(parseTimestamp("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00.000000Z");
});
