/**
 * Durations in configuration, in the forms the existing service accepts: a Go duration (`"30s"`, `"2m"`,
 * `"1h30m"`, `"1.5s"`, `"250ms"`) or a plain number of seconds (`"30"`).
 */

const UNIT_S: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

const PLAIN_SECONDS = /^\d+(\.\d+)?$/;
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const GO_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/**
 * Parses a non-negative duration and returns it in seconds. Throws SyntaxError naming the value when it is
 * neither a Go duration nor a plain number of seconds (negative durations are refused too).
 */
export function parseDurationS(text: string): number {
  const value = text.trim();
  if (PLAIN_SECONDS.test(value)) return Number(value);
  if (!GO_DURATION.test(value)) {
    throw new SyntaxError(
      `Cannot parse duration "${value.slice(0, 40)}": use a Go duration like "30s", "2m", "1h30m" or plain seconds`,
    );
  }
  let seconds = 0;
  for (const match of value.matchAll(GO_PART)) {
    seconds += Number(match[1]) * (UNIT_S[match[2] as string] ?? 0);
  }
  return seconds;
}
