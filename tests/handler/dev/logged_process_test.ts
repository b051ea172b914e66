import assert from "node:assert/strict";
import { startLoggedProcess } from "../../../handler/dev/logged_process.ts";

// The SIGTERM listener comes first, so that a stop right after "ready" finds it in place.
const SCRIPT = `Deno.addSignalListener("SIGTERM", () => { console.log("bye"); Deno.exit(0); });
setInterval(() => {}, 1000);
console.log(JSON.stringify({ msg: "ready", port: 1234 }));
console.error("to stderr");`;

Deno.test("startLoggedProcess writes the output to its log while the process runs, and stops it on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const process = await startLoggedProcess({
      args: ["eval", SCRIPT],
      env: { NO_COLOR: "1" },
      logPath: `${dir}/child.log`,
    });
    const line = await process.waitForLine(/"msg":"ready"/);
    assert.deepEqual(JSON.parse(line), { msg: "ready", port: 1234 });
    let text = "";
    for (let attempt = 0; attempt < 50 && !text.includes("to stderr"); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await Deno.readTextFile(`${dir}/child.log`);
    }
    assert.match(text, /"msg":"ready"/, "stdout is in the log before the process ends");
    assert.match(text, /to stderr/, "stderr is in the log before the process ends");
    const status = await process.stop();
    assert.equal(status.code, 0);
    assert.match(await Deno.readTextFile(`${dir}/child.log`), /bye\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startLoggedProcess.waitForLine rejects when the process ends without the line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const process = await startLoggedProcess({
      args: ["eval", "console.log('something else')"],
      env: {},
      logPath: `${dir}/child.log`,
    });
    await assert.rejects(process.waitForLine(/never/), /Cannot find \/never\//);
    assert.equal((await process.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
