import assert from "node:assert/strict";
import { formatDevStatus, sumPrometheusSeries, toDevCounters } from "../../../handler/dev/status.ts";

const SCRAPE = [
  "# HELP events_ingester_db_insert_rows_total Rows newly inserted",
  "# TYPE events_ingester_db_insert_rows_total counter",
  'events_ingester_db_insert_rows_total{cluster="a"} 30',
  'events_ingester_db_insert_rows_total{cluster="b"} 12',
  'events_ingester_db_insert_rows_total_extra{cluster="b"} 1000',
  'events_ingester_db_insert_duplicates_total{cluster="a"} 5',
  'events_ingester_handler_commit_lag_seconds_sum{cluster="a"} 21',
  'events_ingester_handler_commit_lag_seconds_count{cluster="a"} 42',
].join("\n");

Deno.test("sumPrometheusSeries adds every label set of one metric and no metric sharing its prefix", () => {
  assert.equal(sumPrometheusSeries(SCRAPE, "events_ingester_db_insert_rows_total"), 42);
  assert.equal(sumPrometheusSeries(SCRAPE, "absent_metric"), 0);
});

Deno.test("toDevCounters reads rows, duplicates and the lag histogram's sum and count", () => {
  assert.deepEqual(toDevCounters(SCRAPE), { rowsInserted: 42, duplicates: 5, lagSumS: 21, lagCount: 42 });
});

Deno.test("formatDevStatus shows the rate and mean lag over the interval", () => {
  const previous = { rowsInserted: 10, duplicates: 0, lagSumS: 1, lagCount: 10 };
  const current = { rowsInserted: 50, duplicates: 3, lagSumS: 21, lagCount: 50 };
  assert.equal(formatDevStatus(previous, current, 2), "events/s 20.0 | rows stored 50 | duplicates 3 | lag 0.50 s");
  assert.equal(formatDevStatus(current, current, 2), "events/s 0.0 | rows stored 50 | duplicates 3 | lag -");
});
