/**
 * `deno task tail`: follows the rows the handler stores and prints one readable line per event. Only wiring: read
 * arguments and configuration, build the source, follow until Ctrl-C.
 */
import { createLogger } from "../../shared/telemetry/log.ts";
import { parseTailArgs, TAIL_USAGE } from "./args.ts";
import { ConfigError } from "../../shared/env_reader.ts";
import { loadTailConfig } from "./config.ts";
import { followEvents } from "./follower.ts";
import { formatTailLine } from "./format.ts";
import { createPostgresTailSource } from "./source.ts";

function writeAll(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/** Runs the tail until SIGINT or SIGTERM; returns the exit code (2 for bad arguments or configuration). */
export async function main(args: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  let parsed;
  let config;
  try {
    parsed = parseTailArgs(args);
    if (parsed.isHelp) {
      console.log(TAIL_USAGE);
      return 0;
    }
    config = loadTailConfig(env);
  } catch (error) {
    if (!(error instanceof SyntaxError || error instanceof ConfigError)) throw error;
    console.error(`${error.message}\n\n${TAIL_USAGE}`);
    return 2;
  }
  const logger = createLogger({
    isDebug: ["1", "true", "yes", "on"].includes(env.DEBUG?.trim().toLowerCase() ?? ""),
    write: (line) => console.error(line),
  });
  const isColor = !parsed.isColorDisabled && Deno.stdout.isTerminal() && env.NO_COLOR === undefined;
  const encoder = new TextEncoder();
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await followEvents({
      source: createPostgresTailSource({
        databaseUrl: config.databaseUrl,
        schema: config.dbSchema,
        connectTimeoutS: config.dbConnectTimeoutS,
      }),
      filter: parsed.filter,
      sinceMs: parsed.sinceMs,
      catchUpWindowMs: parsed.catchUpWindowMs,
      print: (row) => {
        try {
          writeAll(encoder.encode(formatTailLine(row, { isColor }) + "\n"));
        } catch (error) {
          // The reader went away (`deno task tail | head`): there is nobody left to print for, so stop cleanly.
          if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
          controller.abort();
        }
      },
      logger,
      signal: controller.signal,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
