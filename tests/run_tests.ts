/**
 * `deno task test`: runs the test suite against TEST_DATABASE_URL, or, when it is unset, against a throwaway
 * embedded PostgreSQL started here and removed afterwards. Extra arguments go to `deno test`.
 */
import { startEmbeddedDatabase } from "../handler/dev/embedded_database.ts";

async function main(): Promise<number> {
  const env: Record<string, string> = {};
  let stop = async () => {};
  if (!Deno.env.get("TEST_DATABASE_URL")) {
    const dataDir = await Deno.makeTempDir({ prefix: "events-ingester-test-pg-" });
    const database = await startEmbeddedDatabase({ dataDir, isPersistent: false });
    env.TEST_DATABASE_URL = database.url;
    stop = async () => {
      await database.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    };
    console.error(`test database: embedded PostgreSQL on port ${database.port}`);
  }
  try {
    const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--parallel", ...args],
      env,
      stdin: "null",
    }).spawn();
    const status = await child.status;
    return status.code;
  } finally {
    await stop();
  }
}

if (import.meta.main) Deno.exit(await main());
