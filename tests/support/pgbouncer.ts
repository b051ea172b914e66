/**
 * Test helper: a real PgBouncer process in transaction pooling mode in front of a PostgreSQL server, on a free
 * loopback port, with its own ini and userlist in a temporary folder. Clients log in to PgBouncer with md5 as
 * `ingester` (a password of its own); PgBouncer logs in to the server with the credentials of the server's URL. The
 * binary is found on PATH or in the sbin folders; when it is missing, tests/support/install_pgbouncer.sh installs
 * Debian's package (.ci/run runs that script before the tests).
 */
import postgres from "postgres";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import { testDatabaseUrl } from "./database.ts";

const INSTALL_SCRIPT = new URL("./install_pgbouncer.sh", import.meta.url).pathname;
/** PgBouncer refuses to run as root; as root it is told to switch to this user (Debian's packages create it). */
const UNPRIVILEGED_USER = "postgres";
/** The user clients log in as, and its password (in PgBouncer's userlist only, not in PostgreSQL). */
export const PGBOUNCER_USER = "ingester";
const PGBOUNCER_PASSWORD = "pooled-password";
/** Name clients connect to; PgBouncer maps it to the server's database. */
export const PGBOUNCER_DATABASE = "events";
const LOG_LINES_MAX = 200;

/** How the PgBouncer under test is set up. */
export interface PgbouncerOptions {
  /** postgres:// URL of the server behind it; TEST_DATABASE_URL when omitted. */
  serverUrl?: string;
  /** Server connections for all of its clients together (`default_pool_size`). */
  poolSize: number;
  /** Seconds a client's statement may wait for a server connection before it is refused (`query_wait_timeout`). */
  queryWaitTimeoutS?: number;
}

/** A running PgBouncer. */
export interface Pgbouncer {
  /** postgres:// URL a client uses to reach the server through it. */
  url: string;
  port: number;
  /** Immediate shutdown (SIGTERM: every client and server connection closes), then a new process on the same port. */
  restart(): Promise<void>;
  /** Points it at another server: rewrites the ini and reloads it; connected clients stay connected. */
  retarget(serverUrl: string): Promise<void>;
  /** Runs an admin console command (`SHOW SERVERS`, `SHOW CLIENTS`, `RELOAD`, ...) and returns its rows. */
  show(command: string): Promise<Record<string, unknown>[]>;
  /** Its last log lines, for failure messages. */
  log(): string;
  /** Stops it and removes its folder; safe to call more than once. */
  stop(): Promise<void>;
}

let binary: Promise<string> | undefined;

async function isExecutable(path: string): Promise<boolean> {
  try {
    return ((await Deno.stat(path)).mode ?? 0) & 0o111 ? true : false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function locateBinary(): Promise<string> {
  const folders = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"];
  for (const folder of folders.filter((f) => f !== "")) {
    if (await isExecutable(`${folder}/pgbouncer`)) return `${folder}/pgbouncer`;
  }
  const output = await new Deno.Command("bash", { args: [INSTALL_SCRIPT], stdin: "null" }).output();
  const path = new TextDecoder().decode(output.stdout).trim().split("\n").pop() ?? "";
  if (output.code !== 0 || !await isExecutable(path)) {
    throw new Error(
      `Cannot start pgbouncer: it is not installed and ${INSTALL_SCRIPT} could not install it` +
        ` (exit ${output.code}):\n${new TextDecoder().decode(output.stderr).slice(-2000)}`,
    );
  }
  return path;
}

/** The PgBouncer binary: found once per process, installed first when missing. */
export function findPgbouncer(): Promise<string> {
  binary ??= locateBinary();
  return binary;
}

/** A `[databases]` value naming the server of `serverUrl` (host, port, database, user, password). */
function toDatabaseLine(serverUrl: string): string {
  const url = new URL(serverUrl);
  const parts = [
    `host=${url.hostname.replace(/^\[|\]$/g, "")}`,
    `port=${url.port || "5432"}`,
    `dbname=${decodeURIComponent(url.pathname.slice(1)) || "postgres"}`,
    `user=${decodeURIComponent(url.username)}`,
  ];
  if (url.password) parts.push(`password=${decodeURIComponent(url.password)}`);
  return `${PGBOUNCER_DATABASE} = ${parts.join(" ")}`;
}

function toIni(options: { dir: string; port: number; serverUrl: string } & PgbouncerOptions): string {
  return [
    "[databases]",
    toDatabaseLine(options.serverUrl),
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${options.port}`,
    "unix_socket_dir =",
    "auth_type = md5",
    `auth_file = ${options.dir}/userlist.txt`,
    "pool_mode = transaction",
    `default_pool_size = ${options.poolSize}`,
    "max_client_conn = 200",
    `query_wait_timeout = ${options.queryWaitTimeoutS ?? 120}`,
    // Try the server again one second after a failed login, not after the default 15 s.
    "server_login_retry = 1",
    `admin_users = ${PGBOUNCER_USER}`,
    ...(Deno.uid() === 0 ? [`user = ${UNPRIVILEGED_USER}`] : []),
    "",
  ].join("\n");
}

async function waitUntilListening(port: number, exited: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited()) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      // Refused until it listens; polling on is the point.
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Cannot start pgbouncer: ${exited() ? "it exited" : "not listening after 10 s"}\n${log()}`);
}

/** Starts PgBouncer in front of `serverUrl` (TEST_DATABASE_URL by default) and resolves once it accepts clients. */
export async function startPgbouncer(options: PgbouncerOptions): Promise<Pgbouncer> {
  const path = await findPgbouncer();
  const dir = await Deno.makeTempDir({ prefix: "events-ingester-pgbouncer-" });
  const port = await findFreePort();
  const iniPath = `${dir}/pgbouncer.ini`;
  const lines: string[] = [];
  const writeConfig = async (serverUrl: string) => {
    await Deno.writeTextFile(`${dir}/userlist.txt`, `"${PGBOUNCER_USER}" "${PGBOUNCER_PASSWORD}"\n`);
    await Deno.writeTextFile(iniPath, toIni({ ...options, dir, port, serverUrl }));
    // As root it switches to an unprivileged user that must still read both files on a reload.
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(`${dir}/userlist.txt`, 0o644);
    await Deno.chmod(iniPath, 0o644);
  };
  await writeConfig(options.serverUrl ?? testDatabaseUrl());

  let child: Deno.ChildProcess | undefined;
  let drained: Promise<void> = Promise.resolve();
  const log = () => lines.join("\n");
  const launch = async () => {
    const spawned = new Deno.Command(path, { args: [iniPath], stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    let hasExited = false;
    spawned.status.then(() => hasExited = true);
    const keep = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        lines.push(...chunk.split("\n").filter((line) => line !== ""));
        lines.splice(0, Math.max(0, lines.length - LOG_LINES_MAX));
      }
    };
    drained = Promise.all([keep(spawned.stdout), keep(spawned.stderr)]).then(() => {});
    child = spawned;
    await waitUntilListening(port, () => hasExited, log);
  };
  const terminate = async () => {
    if (child === undefined) return;
    const running = child;
    child = undefined;
    try {
      running.kill("SIGTERM");
    } catch (error) {
      // Already exited: only its status is left to collect.
      if (!(error instanceof TypeError)) throw error;
    }
    await running.status;
    await drained;
  };

  try {
    await launch();
  } catch (error) {
    await terminate();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const admin = async (command: string) => {
    const session = postgres(`postgres://${PGBOUNCER_USER}:${PGBOUNCER_PASSWORD}@127.0.0.1:${port}/pgbouncer`, {
      max: 1,
      fetch_types: false,
      prepare: false,
      onnotice: () => {},
    });
    try {
      return [...await session.unsafe(command)] as Record<string, unknown>[];
    } finally {
      await session.end();
    }
  };
  const url = `postgres://${PGBOUNCER_USER}:${PGBOUNCER_PASSWORD}@127.0.0.1:${port}/${PGBOUNCER_DATABASE}`;
  let isStopped = false;
  return {
    url,
    port,
    async restart() {
      await terminate();
      await launch();
    },
    async retarget(serverUrl) {
      await writeConfig(serverUrl);
      // The console's RELOAD answers once the new configuration is in effect.
      await admin("RELOAD");
    },
    show: admin,
    log,
    async stop() {
      if (isStopped) return;
      isStopped = true;
      await terminate();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
