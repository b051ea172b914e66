/**
 * Test helper: runs the handler as a child process (`deno serve` or `deno run handler/main.ts`) from the
 * repository root, waits until it answers, and stops it with SIGTERM.
 */
const ROOT = new URL("../../", import.meta.url).pathname;

export interface HandlerProcess {
  baseUrl: string;
  /** Sends SIGTERM and returns the exit code and everything the process wrote. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Runs `deno <args>` in the repository root with `env` added to this process's environment. */
export function spawnDeno(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), { args, env, cwd: ROOT, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
}

/** Polls `url` until it answers 200; throws with the process output when `timeoutMs` passes or the process exits. */
export async function waitUntilAnswering(
  child: Deno.ChildProcess,
  url: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch (error) {
      // Connection refused until the process listens; polling on is the point.
      if (!(error instanceof TypeError)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const output = await stopChild(child);
  throw new Error(
    `Cannot reach ${url}: the process ${exited ? "exited" : "did not answer"}\n${output.stdout}\n${output.stderr}`,
  );
}

/** SIGTERM (when still running), then the exit code and output. */
export async function stopChild(child: Deno.ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    child.kill("SIGTERM");
  } catch (error) {
    // Already exited: its status and output are still to be read.
    if (!(error instanceof TypeError)) throw error;
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}
