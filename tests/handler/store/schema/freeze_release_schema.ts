/**
 * Freezes the schema a released handler creates into `tests/fixtures/schema_v<N>.sql` (N: the release's latest
 * migration version), for the upgrade test (`upgrade_test.ts`). Run it once per release whose schema the current
 * migrations must upgrade:
 *
 *     deno run -A tests/handler/store/schema/freeze_release_schema.ts <git revision>
 *
 * It takes the release's own migration and partition code out of git (`git archive <revision> handler shared`), runs
 * its `applyMigrations` and, for each day of the real fixture events (tests/fixtures/*.ndjson), its `ensurePartition`
 * on a fresh schema of TEST_DATABASE_URL (else of a throwaway embedded PostgreSQL), inside one transaction that is
 * rolled back, and records every statement it sends. The fixture holds the statements that change the schema, in
 * order, parameters written as literals and the schema qualifier removed (the test sets `search_path`); the
 * read-only queries (`select ...`) are left out. The release's modules are `handler/migrations.ts` and
 * `handler/partitions.ts` (the layout up to commit 8398547); for a later release name its own paths after the
 * revision, as in `freeze_release_schema.ts <revision> handler/store/schema/migrations.ts
 * handler/store/schema/partitions.ts`.
 */
import postgres from "postgres";
import { pathToFileURL } from "node:url";
import { startEmbeddedDatabase } from "../../../../handler/dev/embedded_database.ts";
import { toTimestampDay } from "../../../../handler/store/schema/partitions.ts";
import { fixtureEventRows } from "./fixture_rows.ts";

const ROOT = new URL("../../../../", import.meta.url).pathname;
/** Schema the release's code is run on; its qualifier is removed from the recorded statements. */
const FREEZE_SCHEMA = "frozen_release_schema";

/** One statement the release's code sent, with its parameters. */
export interface RecordedStatement {
  text: string;
  params: readonly unknown[];
}

/** `value` as an SQL literal: numbers and booleans as they are, null as NULL, anything else as quoted text. */
export function toSqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `'${String(value).replaceAll("'", "''")}'`;
}

/**
 * The statement as plain SQL: `$n` parameters replaced by literals (highest number first, so `$1` never eats into
 * `$10`), the schema qualifier removed.
 */
export function toFrozenStatement(statement: RecordedStatement, schema: string): string {
  let text = statement.text;
  for (let n = statement.params.length; n >= 1; n--) {
    text = text.replaceAll(`$${n}`, toSqlLiteral(statement.params[n - 1]));
  }
  return text.replaceAll(`"${schema}".`, "").trim();
}

/** True for the statements the fixture keeps: everything but read-only queries. */
export function isSchemaChange(text: string): boolean {
  return !/^\s*select\b/i.test(text);
}

async function extractRelease(revision: string, into: string): Promise<void> {
  const archive = `${into}.tar`;
  const git = await new Deno.Command("git", {
    args: ["-C", ROOT, "archive", "--output", archive, revision, "handler", "shared"],
  }).output();
  if (git.code !== 0) {
    throw new Error(`Cannot read revision ${revision}: ${new TextDecoder().decode(git.stderr).trim()}`);
  }
  const tar = await new Deno.Command("tar", { args: ["-xf", archive, "-C", into] }).output();
  if (tar.code !== 0) throw new Error(`Cannot unpack revision ${revision}: ${new TextDecoder().decode(tar.stderr)}`);
  await Deno.remove(archive);
}

const SILENT_LOGGER = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with() {
    return SILENT_LOGGER;
  },
};

interface ReleaseModules {
  applyMigrations(runner: unknown, context: { schema: string; logger: unknown }): Promise<number[]>;
  latestVersion: number;
  ensurePartition(runner: unknown, options: { schema: string; day: string }): Promise<boolean>;
}

async function importRelease(dir: string, paths: { migrations: string; partitions: string }): Promise<ReleaseModules> {
  const migrations = await import(pathToFileURL(`${dir}/${paths.migrations}`).href);
  const partitions = await import(pathToFileURL(`${dir}/${paths.partitions}`).href);
  return {
    applyMigrations: migrations.applyMigrations,
    latestVersion: migrations.LATEST_MIGRATION_VERSION,
    ensurePartition: partitions.ensurePartition,
  };
}

/** Runs the release's schema code on `url` and returns the statements it sent; changes nothing (rolled back). */
async function recordRelease(url: string, release: ReleaseModules, days: readonly string[]) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const recorded: RecordedStatement[] = [];
  const rollback = new Error("rolled back on purpose");
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(`create schema "${FREEZE_SCHEMA}"`);
      const runner = {
        async query(text: string, params: readonly unknown[] = []) {
          recorded.push({ text, params });
          return [...await tx.unsafe(text, params as never[])];
        },
      };
      await release.applyMigrations(runner, { schema: FREEZE_SCHEMA, logger: SILENT_LOGGER });
      for (const day of days) await release.ensurePartition(runner, { schema: FREEZE_SCHEMA, day });
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  } finally {
    await sql.end();
  }
  return recorded;
}

function toFixtureText(revision: string, version: number, days: readonly string[], sql: readonly string[]): string {
  return [
    `-- The schema the handler of commit ${revision} creates: migrations 1-${version} of its own code, then the daily`,
    `-- partitions it creates for the ${days.length} days of the real fixture events (tests/fixtures/*.ndjson).`,
    "-- Frozen by tests/handler/store/schema/freeze_release_schema.ts: the statements it sent, in order, parameters as",
    "-- literals, without schema qualifier (set search_path first). Generated; do not edit.",
    "",
    ...sql.map((statement) => `${statement};\n`),
  ].join("\n");
}

async function main(): Promise<void> {
  const [revision, migrationsPath = "handler/migrations.ts", partitionsPath = "handler/partitions.ts"] = Deno.args;
  if (!revision) throw new Error("Cannot freeze a schema: name a git revision (freeze_release_schema.ts <revision>)");
  const dir = await Deno.makeTempDir({ prefix: "events-ingester-release-" });
  let stop = async () => {};
  try {
    await extractRelease(revision, dir);
    const release = await importRelease(dir, { migrations: migrationsPath, partitions: partitionsPath });
    let url = Deno.env.get("TEST_DATABASE_URL");
    if (!url) {
      const dataDir = await Deno.makeTempDir({ prefix: "events-ingester-freeze-pg-" });
      const database = await startEmbeddedDatabase({ dataDir, isPersistent: false });
      url = database.url;
      stop = () => database.stop();
    }
    const days = [...new Set((await fixtureEventRows("frozen")).map((row) => toTimestampDay(row.createdAt)))].sort();
    const recorded = await recordRelease(url, release, days);
    const statements = recorded.filter((s) => isSchemaChange(s.text)).map((s) => toFrozenStatement(s, FREEZE_SCHEMA));
    const path = `${ROOT}tests/fixtures/schema_v${release.latestVersion}.sql`;
    await Deno.writeTextFile(path, toFixtureText(revision, release.latestVersion, days, statements));
    console.log(`wrote ${path}: ${statements.length} statements`);
  } finally {
    await stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
