/**
 * Typed reading of environment variables for `loadXConfig(env)`: each bad value adds one sentence to a shared
 * problem list and the default is used in its place, so a loader can report every problem at once.
 */
import { parseDurationS } from "./duration.ts";

type Env = Record<string, string | undefined>;

/**
 * A configuration is invalid; `problems` lists every reason, one sentence each, without secret values. `component`
 * names what was being configured ("handler", "relay", "tail") in the message.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[], options: ErrorOptions & { component: string }) {
    super(`Cannot load ${options.component} configuration: ${problems.join("; ")}`, options);
  }
}

/** Reads one variable at a time, records a problem for each bad value and returns the default in its place. */
export class EnvReader {
  constructor(private readonly env: Env, private readonly problems: string[]) {}

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  }

  text(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  number(name: string, fallback: number, bounds: { min?: number; max?: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    return this.check(name, value, n, bounds, "a number") ?? fallback;
  }

  integer(name: string, fallback: number, bounds: { min?: number; max?: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    return this.check(name, value, Number.isSafeInteger(n) ? n : NaN, bounds, "a whole number") ?? fallback;
  }

  duration(name: string, fallbackS: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallbackS;
    try {
      return parseDurationS(value);
    } catch (error) {
      this.problems.push(`${name}: ${(error as Error).message}`);
      return fallbackS;
    }
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (["1", "true", "yes", "on"].includes(value)) return true;
    if (["0", "false", "no", "off"].includes(value)) return false;
    this.problems.push(`${name}: "${value.slice(0, 20)}" is not a boolean (true, false, 1, 0, yes, no, on, off)`);
    return fallback;
  }

  private check(
    name: string,
    value: string,
    n: number,
    bounds: { min?: number; max?: number },
    what: string,
  ): number | undefined {
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (Number.isNaN(n) || n < min || n > max) {
      this.problems.push(`${name}: "${value.slice(0, 40)}" is not ${what} from ${min} to ${max}`);
      return undefined;
    }
    return n;
  }
}
