/**
 * The live status line of `deno task dev`, computed from two scrapes of the handler's `/metrics`.
 */

/** The handler figures the status line needs, as read from one scrape. */
export interface DevCounters {
  rowsInserted: number;
  duplicates: number;
  lagSumS: number;
  lagCount: number;
}

const NAMES = {
  rowsInserted: "events_ingester_db_insert_rows_total",
  duplicates: "events_ingester_db_insert_duplicates_total",
  lagSumS: "events_ingester_handler_commit_lag_seconds_sum",
  lagCount: "events_ingester_handler_commit_lag_seconds_count",
} as const;

/** Sums every series of metric `name` in Prometheus text exposition format (all label sets). */
export function sumPrometheusSeries(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const next = line.charAt(name.length);
    if (next !== "{" && next !== " ") continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** Reads the counters of one scrape. */
export function toDevCounters(text: string): DevCounters {
  return {
    rowsInserted: sumPrometheusSeries(text, NAMES.rowsInserted),
    duplicates: sumPrometheusSeries(text, NAMES.duplicates),
    lagSumS: sumPrometheusSeries(text, NAMES.lagSumS),
    lagCount: sumPrometheusSeries(text, NAMES.lagCount),
  };
}

/**
 * One status line from the previous and current scrape `elapsedS` apart: stored rows per second over the interval,
 * rows stored since start, duplicates absorbed, and the mean event-to-commit lag of the rows committed in the interval
 * ("-" when none were).
 */
export function formatDevStatus(previous: DevCounters, current: DevCounters, elapsedS: number): string {
  const rate = elapsedS > 0 ? (current.rowsInserted - previous.rowsInserted) / elapsedS : 0;
  const lagCount = current.lagCount - previous.lagCount;
  const lag = lagCount > 0 ? `${((current.lagSumS - previous.lagSumS) / lagCount).toFixed(2)} s` : "-";
  return `events/s ${
    rate.toFixed(1)
  } | rows stored ${current.rowsInserted} | duplicates ${current.duplicates} | lag ${lag}`;
}
