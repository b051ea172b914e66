/**
 * Command-line arguments of `deno task tail`. Pure: takes the argument list, returns options or throws.
 */
import { parseDurationS } from "../../shared/duration.ts";
import type { TailFilter } from "./filter.ts";

export interface TailArgs {
  filter: TailFilter;
  /** `--since`: print rows whose time is at most this long ago before following; undefined prints none. */
  sinceMs?: number;
  /** `--catch-up-window`: how far before a lost connection catch-up reaches back. */
  catchUpWindowMs: number;
  /** `--no-color`: never colour Warning lines. */
  isColorDisabled: boolean;
  isHelp: boolean;
}

/** Default `--catch-up-window`: ten minutes of insert lag behind the event's own time. */
export const DEFAULT_CATCH_UP_WINDOW_MS = 10 * 60 * 1000;

/** Usage text printed by `--help` and after an argument error. */
export const TAIL_USAGE = `Usage: deno task tail [options]

Prints each Kubernetes event as it is stored, one line per event:
  <time> <cluster> <namespace> <kind>/<name> <type> <reason> <message>

Options (filters may be repeated; a row passes when it matches any value given for each option):
  --cluster <name>            only events of this cluster
  --namespace, -n <name>      only events in this namespace
  --type <Normal|Warning>     only events of this type
  --reason <reason>           only events with this reason (for example BackOff)
  --since <duration>          first print the events of the last <duration> (30s, 10m, 2h, 1h30m)
  --catch-up-window <duration>
                              after a lost connection, re-read events this far back (default 10m)
  --no-color                  do not colour Warning events
  --help, -h                  show this text

Database: DATABASE_URL, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME, DB_PARAMS; DB_SCHEMA (default public).`;

const VALUE_OPTIONS = ["--cluster", "--namespace", "-n", "--type", "--reason", "--since", "--catch-up-window"];

function toMs(name: string, text: string): number {
  let seconds: number;
  try {
    seconds = parseDurationS(text);
  } catch (error) {
    throw new SyntaxError(`Cannot read ${name}: ${(error as Error).message}`, { cause: error });
  }
  return Math.round(seconds * 1000);
}

/**
 * Parses `deno task tail` arguments (`--name value` or `--name=value`). Throws SyntaxError naming the argument
 * for an unknown option, a missing or empty value, or a duration that does not parse.
 */
export function parseTailArgs(args: readonly string[]): TailArgs {
  const filter = {
    clusters: [] as string[],
    namespaces: [] as string[],
    types: [] as string[],
    reasons: [] as string[],
  };
  const result: TailArgs = {
    filter,
    catchUpWindowMs: DEFAULT_CATCH_UP_WINDOW_MS,
    isColorDisabled: false,
    isHelp: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--help" || arg === "-h") {
      result.isHelp = true;
      continue;
    }
    if (arg === "--no-color") {
      result.isColorDisabled = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq !== -1 ? arg.slice(0, eq) : arg;
    if (!VALUE_OPTIONS.includes(name)) throw new SyntaxError(`Cannot read argument "${arg}": unknown option`);
    const value = eq !== -1 && name !== arg ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === "") throw new SyntaxError(`Cannot read ${name}: it needs a value`);
    switch (name) {
      case "--cluster":
        filter.clusters.push(value);
        break;
      case "--namespace":
      case "-n":
        filter.namespaces.push(value);
        break;
      case "--type":
        filter.types.push(value);
        break;
      case "--reason":
        filter.reasons.push(value);
        break;
      case "--since":
        result.sinceMs = toMs(name, value);
        break;
      case "--catch-up-window":
        result.catchUpWindowMs = toMs(name, value);
        break;
    }
  }
  return result;
}
