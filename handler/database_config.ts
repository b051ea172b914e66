/**
 * Where the database is, read the same way by the handler and by `deno task tail`: DATABASE_URL, or the existing
 * service's DB_USER, DB_PASS, DB_HOST, DB_PORT, DB_NAME, DB_PARAMS; DB_SCHEMA and DB_CONNECT_TIMEOUT_S.
 */
import type { EnvReader } from "../shared/env_reader.ts";

type Env = Record<string, string | undefined>;

/** The database settings both programs share. */
export interface DatabaseConfig {
  /** postgres:// URL, from DATABASE_URL or assembled from the DB_* variables; may hold a password, never logged. */
  databaseUrl: string;
  /** The schema that holds `k8s_events` and the handler's tables. */
  dbSchema: string;
  dbConnectTimeoutS: number;
}

export const DATABASE_DEFAULTS = {
  dbSchema: "public",
  dbConnectTimeoutS: 10,
} as const;

/** A schema name used unquoted-safe in SQL: a plain identifier of at most 63 characters. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** True when the environment names a database (DATABASE_URL or DB_HOST); `deno task dev` starts one otherwise. */
export function isDatabaseConfigured(env: Env): boolean {
  return Boolean(env.DATABASE_URL?.trim() || env.DB_HOST?.trim());
}

/** Reads the database settings; each bad value adds a sentence to `problems` (through `reader`). */
export function readDatabaseConfig(env: Env, options: { reader: EnvReader; problems: string[] }): DatabaseConfig {
  const { reader, problems } = options;
  const databaseUrl = readDatabaseUrl(env, problems);
  const dbSchema = reader.text("DB_SCHEMA", DATABASE_DEFAULTS.dbSchema);
  if (!SCHEMA_NAME.test(dbSchema)) {
    problems.push(`DB_SCHEMA: "${dbSchema.slice(0, 80)}" is not a plain SQL identifier (letters, digits, _)`);
  }
  return {
    databaseUrl,
    dbSchema,
    dbConnectTimeoutS: reader.number("DB_CONNECT_TIMEOUT_S", DATABASE_DEFAULTS.dbConnectTimeoutS, {
      min: 1,
      max: 3600,
    }),
  };
}

function readDatabaseUrl(env: Env, problems: string[]): string {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    if (env.DB_HOST?.trim()) problems.push("DATABASE_URL and DB_HOST: set one of them, not both");
    if (!/^postgres(ql)?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
      problems.push(
        "DATABASE_URL: is not a postgres:// or postgresql:// URL (value not shown, it may hold a password)",
      );
    }
    return url;
  }
  const missing = ["DB_HOST", "DB_USER", "DB_NAME"].filter((name) => !env[name]?.trim());
  if (missing.length === 3) {
    problems.push("DATABASE_URL: is unset, and so are DB_HOST, DB_USER and DB_NAME: name the database");
    return "";
  }
  if (missing.length > 0) problems.push(`${missing.join(", ")}: must be set when DATABASE_URL is unset`);
  const port = env.DB_PORT?.trim() || "5432";
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    problems.push(`DB_PORT: "${port.slice(0, 20)}" is not a port number (1-65535)`);
  }
  const user = encodeURIComponent(env.DB_USER?.trim() ?? "");
  const password = env.DB_PASS ? `:${encodeURIComponent(env.DB_PASS)}` : "";
  const host = env.DB_HOST?.trim() ?? "";
  const name = encodeURIComponent(env.DB_NAME?.trim() ?? "");
  const params = (env.DB_PARAMS?.trim() ?? "").replace(/^\?/, "");
  const assembled = `postgres://${user}${password}@${host.includes(":") ? `[${host}]` : host}:${port}/${name}` +
    (params ? `?${params}` : "");
  if (missing.length === 0 && !URL.canParse(assembled)) {
    problems.push("DB_HOST, DB_PARAMS: do not form a valid URL together with the other DB_* values");
  }
  return assembled;
}
