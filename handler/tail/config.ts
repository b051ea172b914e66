/**
 * Where `deno task tail` finds the database: the same variables as the handler (DATABASE_URL, or DB_USER, DB_PASS,
 * DB_HOST, DB_PORT, DB_NAME, DB_PARAMS; DB_SCHEMA; DB_CONNECT_TIMEOUT_S). The only tail file that reads the
 * environment, through a plain object.
 */
import { ConfigError, HANDLER_DEFAULTS } from "../config.ts";

export interface TailConfig {
  /** postgres:// URL; may hold a password, never logged. */
  databaseUrl: string;
  dbSchema: string;
  dbConnectTimeoutS: number;
}

type Env = Record<string, string | undefined>;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function value(env: Env, name: string): string | undefined {
  const text = env[name]?.trim();
  return text === undefined || text === "" ? undefined : text;
}

function readDatabaseUrl(env: Env, problems: string[]): string {
  const url = value(env, "DATABASE_URL");
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
      problems.push(
        "DATABASE_URL: is not a postgres:// or postgresql:// URL (value not shown, it may hold a password)",
      );
    }
    return url;
  }
  const host = value(env, "DB_HOST");
  const user = value(env, "DB_USER");
  const name = value(env, "DB_NAME");
  if (host === undefined || user === undefined || name === undefined) {
    problems.push("DATABASE_URL: is unset, and DB_HOST, DB_USER and DB_NAME are not all set: name the database");
    return "";
  }
  const port = value(env, "DB_PORT") ?? "5432";
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    problems.push(`DB_PORT: "${port.slice(0, 20)}" is not a port number (1-65535)`);
  }
  const password = env.DB_PASS ? `:${encodeURIComponent(env.DB_PASS)}` : "";
  const params = (value(env, "DB_PARAMS") ?? "").replace(/^\?/, "");
  const url2 = `postgres://${encodeURIComponent(user)}${password}@${host.includes(":") ? `[${host}]` : host}:${port}/` +
    `${encodeURIComponent(name)}${params ? `?${params}` : ""}`;
  if (!URL.canParse(url2)) problems.push("DB_HOST, DB_PARAMS: do not form a valid URL with the other DB_* values");
  return url2;
}

/** Reads and validates the tail's database settings; throws one ConfigError listing every problem. */
export function loadTailConfig(env: Env): TailConfig {
  const problems: string[] = [];
  const databaseUrl = readDatabaseUrl(env, problems);
  const dbSchema = value(env, "DB_SCHEMA") ?? HANDLER_DEFAULTS.dbSchema;
  if (!SCHEMA_NAME.test(dbSchema)) {
    problems.push(`DB_SCHEMA: "${dbSchema.slice(0, 80)}" is not a plain SQL identifier (letters, digits, _)`);
  }
  const timeoutText = value(env, "DB_CONNECT_TIMEOUT_S");
  const dbConnectTimeoutS = timeoutText === undefined ? HANDLER_DEFAULTS.dbConnectTimeoutS : Number(timeoutText);
  if (!/^\d+$/.test(timeoutText ?? "1") || dbConnectTimeoutS < 1) {
    problems.push(`DB_CONNECT_TIMEOUT_S: "${timeoutText?.slice(0, 20)}" is not a whole number of seconds from 1`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { databaseUrl, dbSchema, dbConnectTimeoutS };
}
