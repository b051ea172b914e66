/**
 * The real handler (`handler/main.ts`, the container start path) in a child process for the benchmark: started with
 * the given environment and the V8 flags of the handler image's command, found listening through its `listening`
 * log line, measured through /proc, stopped with SIGTERM.
 */
import { parseDockerfile } from "../deploy/dockerfile.ts";

export interface HandlerProcess {
  baseUrl: string;
  pid: number;
  /** Peak resident set size of the child (VmHWM), in bytes. */
  peakRssBytes(): Promise<number>;
  /** CPU time the child has used so far (user + system), in milliseconds. */
  cpuMs(): Promise<number>;
  /** SIGTERM, then waits for the exit (graceful shutdown closes the pool). */
  stop(): Promise<void>;
}

/** The handler to start: BENCH_HANDLER_MAIN (another checkout's handler/main.ts, to compare versions in one run). */
const MAIN = Deno.env.get("BENCH_HANDLER_MAIN") ?? new URL("../../handler/main.ts", import.meta.url).pathname;
/** Extra `deno run` arguments (BENCH_HANDLER_ARGS, a JSON array), e.g. `["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]`. */
const EXTRA_ARGS = JSON.parse(Deno.env.get("BENCH_HANDLER_ARGS") ?? "[]") as string[];
/** When set (BENCH_HANDLER_LOG), every line the handler writes (stdout and stderr) is appended to this file. */
const LOG_PATH = Deno.env.get("BENCH_HANDLER_LOG");
const DOCKERFILE = new URL("../../deploy/handler/Dockerfile", import.meta.url);

/**
 * The `--v8-flags=` arguments of the handler image's command (deploy/handler/Dockerfile), so that the bench measures
 * what ships; BENCH_HANDLER_V8_FLAGS replaces their value ("none": V8's defaults).
 */
export async function readHandlerV8Args(): Promise<string[]> {
  const override = Deno.env.get("BENCH_HANDLER_V8_FLAGS");
  if (override !== undefined) return override === "none" || override === "" ? [] : [`--v8-flags=${override}`];
  const { command } = parseDockerfile(await Deno.readTextFile(DOCKERFILE));
  return command.filter((arg) => arg.startsWith("--v8-flags="));
}

/** Starts the handler and resolves once it listens; rejects with its log when it exits or is not up in 60 s. */
export async function startHandlerProcess(env: Record<string, string>): Promise<HandlerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...await readHandlerV8Args(), ...EXTRA_ARGS, "-A", MAIN],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  let onPort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => onPort = resolve);
  const logFile = LOG_PATH === undefined
    ? undefined
    : await Deno.open(LOG_PATH, { write: true, create: true, append: true });
  const encoder = new TextEncoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const lines = stream.pipeThrough(new TextDecoderStream());
    let pending = "";
    for await (const chunk of lines) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (log.length < 200) log.push(line);
        if (logFile !== undefined) await logFile.write(encoder.encode(`${line}\n`));
        if (line.includes('"listening"')) onPort((JSON.parse(line) as { port: number }).port);
      }
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).finally(() => logFile?.close());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot start the handler: not listening after 60 s\n${log.join("\n")}`)),
      60_000,
    );
    child.status.then((status) =>
      reject(new Error(`Cannot start the handler: it exited with ${status.code}\n${log.join("\n")}`))
    );
  });
  let listening: number;
  try {
    listening = await Promise.race([port, failed]);
  } catch (error) {
    child.kill("SIGKILL");
    await drained;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  failed.catch(() => {}); // The exit after stop() settles it; nothing waits for it any more.
  return {
    baseUrl: `http://127.0.0.1:${listening}`,
    pid: child.pid,
    async peakRssBytes() {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
      if (!match) throw new Error(`Cannot read the handler's peak RSS: no VmHWM in /proc/${child.pid}/status`);
      return Number(match[1]) * 1024;
    },
    async cpuMs() {
      const stat = await Deno.readTextFile(`/proc/${child.pid}/stat`);
      // Fields after the parenthesised command name; utime and stime are the 14th and 15th, in clock ticks (1/100 s).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}
