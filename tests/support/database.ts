/**
 * Test access to PostgreSQL: TEST_DATABASE_URL (set by `deno task test`, or by hand) and a fresh schema per test.
 */
import postgres from "postgres";

/** The database the tests use. Fails with a clear message when run without `deno task test`. */
export function testDatabaseUrl(): string {
  const url = Deno.env.get("TEST_DATABASE_URL");
  if (!url) {
    throw new Error("Cannot run database tests: TEST_DATABASE_URL is unset (run them through `deno task test`)");
  }
  return url;
}

let counter = 0;

/** A schema name no other test (in any worker) uses. */
export function uniqueSchemaName(prefix = "t"): string {
  counter++;
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}_${counter}`;
}

/**
 * Runs `fn` with a new empty schema and an admin connection, then drops the schema. The schema name is passed to
 * the code under test, which puts its tables there.
 */
export async function withTestSchema<T>(
  fn: (schema: string, sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const schema = uniqueSchemaName();
  const sql = postgres(testDatabaseUrl(), { max: 2, onnotice: () => {} });
  await sql.unsafe(`create schema "${schema}"`);
  try {
    return await fn(schema, sql);
  } finally {
    await sql.unsafe(`drop schema "${schema}" cascade`);
    await sql.end();
  }
}
