/**
 * Histogram bucket upper bounds by unit: both meters (the SDK's views in `telemetry.ts` and `prometheus_meter.ts`)
 * give an instrument the buckets of its unit, so that durations are not bucketed on the SDK's millisecond scale.
 */

/** Histogram bucket upper bounds for durations and lags in seconds: 1 ms to 1 h (relist replays reach the top). */
export const SECONDS_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
];

/** Histogram bucket upper bounds for record and row counts, up to the largest request (recordsMax). */
export const RECORDS_BUCKETS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Histogram bucket upper bounds for byte sizes: 1 KiB to 64 MiB (the decoded body limit). */
export const BYTES_BUCKETS: readonly number[] = [
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  8388608,
  16777216,
  67108864,
];

/** The SDK's own explicit-bucket boundaries, which a histogram of any other unit gets. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0,
  5,
  10,
  25,
  50,
  75,
  100,
  250,
  500,
  750,
  1000,
  2500,
  5000,
  7500,
  10000,
];
