import assert from "node:assert/strict";
import { testDatabaseUrl, withTestSchema } from "../../support/database.ts";
import { createTestEventsDb, eventRow } from "./harness.ts";

const TAIL = new URL("../../../handler/tail/main.ts", import.meta.url).pathname;

/** Reads stdout lines of a child process as they come. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

Deno.test("deno task tail prints one line per new event with --since history first and stops on SIGTERM", async () => {
  await withTestSchema(async (schema) => {
    const db = await createTestEventsDb(schema);
    const old = eventRow({ cluster: "prod-a", namespace: "shop", name: "web-0", reason: "Scheduled", ageS: 120 });
    await db.write([old, eventRow({ cluster: "prod-b", ageS: 60 })]);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TAIL, "--since", "10m", "--cluster", "prod-a"],
      env: { DATABASE_URL: testDatabaseUrl(), DB_SCHEMA: schema, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream());
    const stderrText = Array.fromAsync(stderr).then((parts) => parts.join(""));
    const out = lines(child.stdout);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    try {
      const first = await out.next();
      assert.equal(
        first.value,
        `${old.createdAt.slice(0, 19)}Z prod-a shop v1.Pod/web-0 Normal Scheduled ${old.message}`,
      );
      const fresh = eventRow({
        cluster: "prod-a",
        namespace: "shop",
        name: "web-1",
        type: "Warning",
        reason: "BackOff",
      });
      // The history line proves the tail listens: rows written now arrive by notification.
      await db.write([eventRow({ cluster: "prod-b" }), fresh]);
      const second = await out.next();
      assert.equal(
        second.value,
        `${fresh.createdAt.slice(0, 19)}Z prod-a shop v1.Pod/web-1 Warning BackOff ${fresh.message}`,
      );
      child.kill("SIGTERM");
      assert.equal((await out.next()).done, true);
      assert.equal((await child.status).code, 0);
      const logs = (await stderrText).trim().split("\n").map((line) => JSON.parse(line));
      assert.deepEqual(logs.map((entry) => [entry.level, entry.msg, entry.caughtUp]), [
        ["info", "Following events", 1],
      ]);
    } finally {
      clearTimeout(timer);
      await db.close();
    }
  });
});

Deno.test("deno task tail exits 2 with the problem and usage for a bad argument", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TAIL, "--since", "soon"],
    env: { DATABASE_URL: "postgres://u@127.0.0.1:1/x" },
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.ok(stderr.startsWith('Cannot read --since: Cannot parse duration "soon"'), stderr);
  assert.ok(stderr.includes("Usage: deno task tail [options]"));
  assert.equal(output.stdout.length, 0);
});
