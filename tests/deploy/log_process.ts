/**
 * Test support: a child process whose stdout and stderr lines are collected as they arrive, so a test can wait for
 * a log line (for example the port a server chose) and show the whole log when it fails.
 */

/** A running child process and its output so far. */
export interface LogProcess {
  readonly lines: string[];
  /** Resolves with the first line (already printed or still to come) for which `match` returns a value. */
  waitFor<T>(match: (line: string) => T | undefined, options: { signal: AbortSignal }): Promise<T>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  readonly status: Promise<Deno.CommandStatus>;
}

/** Starts `command` with exactly `env` (nothing inherited) in `cwd`. */
export function startLogProcess(
  command: string,
  options: { args: string[]; env: Record<string, string>; cwd: string },
): LogProcess {
  const child = new Deno.Command(command, {
    args: options.args,
    env: options.env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (rest !== "") lines.push(rest);
    for (const wake of waiters) wake();
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (status) => {
    await pumped;
    return status;
  });
  let isExited = false;
  status.then(() => {
    isExited = true;
    for (const wake of waiters) wake();
  });
  return {
    lines,
    status,
    waitFor<T>(match: (line: string) => T | undefined, { signal }: { signal: AbortSignal }): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        let checked = 0;
        const check = () => {
          for (; checked < lines.length; checked++) {
            const found = match(lines[checked]!);
            if (found !== undefined) return finish(() => resolve(found));
          }
          if (isExited) {
            finish(() => reject(new Error(`Cannot find the log line: the process exited\n${lines.join("\n")}`)));
          }
        };
        const onAbort = () => finish(() => reject(new Error(`Cannot find the log line in time\n${lines.join("\n")}`)));
        const finish = (settle: () => void) => {
          waiters.delete(check);
          signal.removeEventListener("abort", onAbort);
          settle();
        };
        waiters.add(check);
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) onAbort();
        else check();
      });
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!isExited) {
        try {
          child.kill(signal);
        } catch (error) {
          // The process exited between the check and the kill: its status below is what matters.
          if (!(error instanceof TypeError)) throw error;
        }
      }
      return (await status).code;
    },
  };
}

/** The value of `field` when `line` is a JSON log object whose `msg` is `msg`. */
export function readLogField(line: string, msg: string, field: string): unknown {
  if (!line.startsWith("{")) return undefined;
  try {
    const object = JSON.parse(line) as Record<string, unknown>;
    return object.msg === msg ? object[field] : undefined;
  } catch (error) {
    // Not a JSON log line (a runtime warning, say): it cannot be the line looked for.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}
