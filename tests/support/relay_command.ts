/**
 * How the relay is run as shipped: the `--v8-flags=` value of deno.json's `relay` task, which the container image's
 * command repeats (tests/deploy/dockerfile_test.ts checks that they agree). Tests and benchmarks that measure a relay
 * process's memory run it with these flags, so they measure what operators run.
 */

/** The `--v8-flags=` value of deno.json's `relay` task; "none" when it has none. */
export async function readRelayTaskV8Flags(): Promise<string> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))) as {
    tasks?: Record<string, string>;
  };
  return /--v8-flags=(\S+)/.exec(denoJson.tasks?.relay ?? "")?.[1] ?? "none";
}

/** `deno run` arguments for the relay's V8 flags as shipped (none when the task has none). */
export async function relayV8FlagArgs(): Promise<string[]> {
  const flags = await readRelayTaskV8Flags();
  return flags === "none" ? [] : [`--v8-flags=${flags}`];
}
