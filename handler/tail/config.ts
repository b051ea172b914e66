/**
 * Where `deno task tail` finds the database: the same variables as the handler (handler/database_config.ts). The
 * only tail file that reads the environment, through a plain object.
 */
import { ConfigError, EnvReader } from "../../shared/env_reader.ts";
import { type DatabaseConfig, readDatabaseConfig } from "../database_config.ts";

/** The tail needs only the database. */
export type TailConfig = DatabaseConfig;

type Env = Record<string, string | undefined>;

/** Reads and validates the tail's database settings; throws one ConfigError listing every problem. */
export function loadTailConfig(env: Env): TailConfig {
  const problems: string[] = [];
  const config = readDatabaseConfig(env, { reader: new EnvReader(env, problems), problems });
  if (problems.length > 0) throw new ConfigError(problems, { component: "tail" });
  return config;
}
