/**
 * Child processes of a throwaway control plane: each writes its output to its own log file, is stopped with SIGTERM
 * then SIGKILL, and is killed by a watchdog if this Deno process dies without stopping it (a crashed or killed test
 * run must not leave etcd or an API server behind).
 */

/** A started binary. */
export interface LoggedProcess {
  name: string;
  logFile: string;
  child: Deno.ChildProcess;
  /** Set once the process has exited. */
  exit: Deno.CommandStatus | undefined;
  /** What `stopProcess` sends first. */
  stopSignal: "SIGTERM" | "SIGKILL";
}

/**
 * Kills every process it was told about, and removes `dir`, when this process's end of its stdin pipe closes: on
 * `close()`, or when this Deno process dies for any reason. It ignores SIGINT, SIGHUP and SIGTERM so that a Ctrl-C,
 * which reaches the whole process group, cannot remove it before it has done its work.
 */
export class Watchdog {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pidsFile: string;

  constructor(dir: string) {
    this.#pidsFile = `${dir}/pids`;
    const script = 'trap "" INT HUP TERM; cat >/dev/null; ' +
      'if [ -f "$0/pids" ]; then while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$0/pids"; fi; rm -rf "$0"';
    this.#child = new Deno.Command("bash", {
      args: ["-c", script, dir],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
  }

  /** Remembers a pid to kill. */
  async watch(pid: number): Promise<void> {
    await Deno.writeTextFile(this.#pidsFile, `${pid}\n`, { append: true });
  }

  /** Forgets every pid (call once they have exited), then lets the watchdog remove the folder and exit. */
  async close(): Promise<void> {
    await Deno.remove(this.#pidsFile).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    await this.#writer.close();
    await this.#child.status;
  }
}

/**
 * Starts `command` with `args`, stdout and stderr appended to `logFile`, and registers it with the watchdog. The
 * child's pid is the binary's own (bash `exec`s it), so signals reach it directly.
 */
export async function spawnLogged(
  watchdog: Watchdog,
  options: { name: string; command: string; args: string[]; logFile: string; stopSignal?: "SIGTERM" | "SIGKILL" },
): Promise<LoggedProcess> {
  const child = new Deno.Command("bash", {
    args: ["-c", 'exec "$@" >>"$0" 2>&1', options.logFile, options.command, ...options.args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const process: LoggedProcess = {
    name: options.name,
    logFile: options.logFile,
    child,
    exit: undefined,
    stopSignal: options.stopSignal ?? "SIGTERM",
  };
  child.status.then((status) => {
    process.exit = status;
  });
  await watchdog.watch(child.pid);
  return process;
}

/**
 * Sends the process's `stopSignal`, then SIGKILL when it has not exited after `graceMs`; resolves once it has exited.
 */
export async function stopProcess(process: LoggedProcess, graceMs = 10_000): Promise<void> {
  if (process.exit) return;
  process.child.kill(process.stopSignal);
  const timer = setTimeout(() => {
    if (!process.exit) process.child.kill("SIGKILL");
  }, graceMs);
  try {
    await process.child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` every `intervalMs` until it returns true. Throws when `timeoutMs` passes, or as soon as one of
 * `processes` exits (a crashed server will never become ready). Errors thrown by `check` count as "not yet", and the
 * last one is reported in the timeout's message.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; processes: LoggedProcess[]; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (true) {
    const exited = options.processes.find((process) => process.exit);
    if (exited) throw new Error(`Cannot wait for ${what}: ${exited.name} exited with code ${exited.exit!.code}`);
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error; // not answering yet is the normal state while a server starts
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`Cannot wait for ${what}: not ready after ${options.timeoutMs} ms${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** The last `lines` lines of each process's log, headed by its name, for a failure message. */
export async function readLogTails(processes: LoggedProcess[], lines = 60): Promise<string> {
  const parts: string[] = [];
  for (const process of processes) {
    const text = await Deno.readTextFile(process.logFile).catch((error) => `(cannot read the log: ${error})`);
    parts.push(`--- ${process.name} (${process.logFile}), last ${lines} lines`);
    parts.push(text.trimEnd().split("\n").slice(-lines).join("\n"));
  }
  return parts.join("\n");
}

/** A free TCP port on 127.0.0.1 (free when this returns; a server started right after will almost always get it). */
export function findFreePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
