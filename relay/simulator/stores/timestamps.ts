/**
 * Kubernetes timestamp text: `metav1.Time` (seconds) and `metav1.MicroTime` (microseconds), both RFC 3339 in UTC.
 */

/** RFC 3339 with second precision, as `metav1.Time` is written. */
export function toSecondsTimestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** RFC 3339 with microsecond precision, as `metav1.MicroTime` is written. */
export function toMicrosTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
