/**
 * Structured logs: one JSON object per line with `time`, `level`, `msg` and fields. Logs carry counts, codes and
 * ids, never event payloads or secrets. The sink is passed in (stdout in production, an array in tests).
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

export interface LoggerOptions {
  isDebug: boolean;
  /** Receives each finished line, without a line end. */
  write?: (line: string) => void;
  now?: () => Date;
}

/** Builds a logger. Debug lines are dropped unless `isDebug`. */
export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => new Date());
  const log = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (level === "debug" && !options.isDebug) return;
    write(JSON.stringify({ time: now().toISOString(), level, msg, ...base, ...fields }));
  };
  return {
    debug: (msg, fields) => log("debug", msg, fields),
    info: (msg, fields) => log("info", msg, fields),
    warn: (msg, fields) => log("warn", msg, fields),
    error: (msg, fields) => log("error", msg, fields),
    with: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A short, payload-free description of an error for a log field: its name and message, cut to 300 characters. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return String(error).slice(0, 300);
}
