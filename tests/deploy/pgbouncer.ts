/**
 * Test support: a real PgBouncer (Debian's `pgbouncer` package, or PGBOUNCER) on loopback in front of the test
 * database, as CloudNativePG's Pooler puts one in front of a cluster. PgBouncer refuses to run as root, so as root it
 * runs as `nobody` (through runuser). Without PgBouncer the tests that need it are skipped, with a message.
 */
import { findFreePort } from "../../handler/dev/embedded_database.ts";

/** The pgbouncer binary (PGBOUNCER, else the Debian path, else PATH), or null. */
function findPgbouncer(): string | null {
  for (const candidate of [Deno.env.get("PGBOUNCER"), "/usr/sbin/pgbouncer", "pgbouncer"]) {
    if (!candidate) continue;
    try {
      if (new Deno.Command(candidate, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success) {
        return candidate;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied)) throw error;
    }
  }
  return null;
}

/** PgBouncer for the tests, or null (then they are skipped). */
export const PGBOUNCER: string | null = findPgbouncer();

/** PgBouncer's version as numbers (`[1, 18, 0]`), or null without PgBouncer. */
export const PGBOUNCER_VERSION: number[] | null = PGBOUNCER === null ? null : (() => {
  const output = new Deno.Command(PGBOUNCER, { args: ["--version"], stdout: "piped" }).outputSync();
  const match = /PgBouncer (\d+)\.(\d+)\.(\d+)/.exec(new TextDecoder().decode(output.stdout));
  if (!match) throw new Error("Cannot read the version of PgBouncer from `pgbouncer --version`");
  return match.slice(1).map(Number);
})();

if (PGBOUNCER === null) {
  console.log("pgbouncer not found (apt-get install pgbouncer, or set PGBOUNCER): the PgBouncer tests are skipped");
}

/** A running PgBouncer. */
export interface Pgbouncer {
  /** The database URL through PgBouncer (same user, password and database). */
  url: string;
  /** What it wrote (its log goes to stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** Settings of the [pgbouncer] section, e.g. `{ pool_mode: "transaction", default_pool_size: "2" }`. */
export type PgbouncerSettings = Record<string, string>;

/** Starts PgBouncer in front of `databaseUrl` with `settings`; resolves once it accepts connections. */
export async function startPgbouncer(databaseUrl: string, settings: PgbouncerSettings): Promise<Pgbouncer> {
  if (PGBOUNCER === null) throw new Error("Cannot start PgBouncer: it is not installed");
  const target = new URL(databaseUrl);
  const port = await findFreePort();
  const dir = await Deno.makeTempDir({ prefix: "pgbouncer-" });
  // Readable by the unprivileged user PgBouncer runs as; the password is the throwaway test database's.
  await Deno.chmod(dir, 0o755);
  const user = decodeURIComponent(target.username);
  await Deno.writeTextFile(`${dir}/userlist.txt`, `"${user}" "${decodeURIComponent(target.password)}"\n`);
  const config = [
    "[databases]",
    `* = host=${target.hostname} port=${target.port || "5432"}`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "auth_type = trust",
    `auth_file = ${dir}/userlist.txt`,
    "ignore_startup_parameters = extra_float_digits,options",
    ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
  ].join("\n");
  await Deno.writeTextFile(`${dir}/pgbouncer.ini`, `${config}\n`);
  for (const file of ["userlist.txt", "pgbouncer.ini"]) await Deno.chmod(`${dir}/${file}`, 0o644);
  const configPath = `${dir}/pgbouncer.ini`;
  const isRoot = Deno.uid() === 0;
  const child = new Deno.Command(isRoot ? "runuser" : PGBOUNCER, {
    args: isRoot ? ["-u", "nobody", "--", PGBOUNCER, configPath] : [configPath],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) chunks.push(text);
  };
  const collected = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch (error) {
      // Already exited: nothing to stop.
      if (!(error instanceof TypeError)) throw error;
    }
    await child.status;
    await collected;
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Cannot start PgBouncer: not listening after 10 s\n${chunks.join("")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString(), output: () => chunks.join(""), stop };
}
