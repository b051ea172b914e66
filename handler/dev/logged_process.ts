/**
 * A child process of `deno task dev` whose stdout and stderr go to a log file as they arrive, so the terminal keeps
 * only the banner and the status line and the log can be followed live (`tail -f`).
 */

export interface LoggedProcess {
  child: Deno.ChildProcess;
  /** Resolves with the first stdout line that matches `pattern`, rejects when the process ends first. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Sends SIGTERM (unless the process already ended) and waits for the exit and the last log bytes. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Text of stdout kept for `waitForLine`, so a chatty process does not grow the harness's memory. */
const WATCHED_CHARS_MAX = 64 * 1024;

/** Starts `deno <args>` with `env`, appending its output to `logPath`. */
export async function startLoggedProcess(
  options: { args: string[]; env: Record<string, string>; logPath: string },
): Promise<LoggedProcess> {
  const log = await Deno.open(options.logPath, { create: true, append: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: options.args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let watched = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  const decoder = new TextDecoder();
  const settleWaiters = () => {
    for (const waiter of [...waiters]) {
      const line = watched.split("\n").find((l) => waiter.pattern.test(l));
      if (line === undefined) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  };
  // FsFile.write goes to the file at once; a WritableStream over the file would hold the bytes until it closes.
  const copy = async (stream: ReadableStream<Uint8Array>, isWatched: boolean) => {
    for await (const chunk of stream) {
      for (let written = 0; written < chunk.length;) written += await log.write(chunk.subarray(written));
      if (!isWatched) continue;
      watched = (watched + decoder.decode(chunk, { stream: true })).slice(-WATCHED_CHARS_MAX);
      settleWaiters();
    }
  };
  const copied = Promise.all([copy(child.stdout, true), copy(child.stderr, false)]).finally(() => {
    log.close();
    for (const waiter of waiters.splice(0)) {
      waiter.reject(
        new Error(`Cannot find ${waiter.pattern} in the output: the process ended (log ${options.logPath})`),
      );
    }
  });
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    child,
    waitForLine(pattern) {
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve, reject });
        settleWaiters();
        if (exited) copied.then(() => reject(new Error(`Cannot find ${pattern}: the process ended`)));
      });
    },
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch (error) {
          // The process ended between the check and the signal: there is nothing left to stop.
          if (!(error instanceof TypeError)) throw error;
        }
      }
      const result = await status;
      await copied;
      return result;
    },
  };
}
