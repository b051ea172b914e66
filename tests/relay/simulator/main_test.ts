import assert from "node:assert/strict";
import { parseSimulatorArgs } from "../../../relay/simulator/main.ts";

Deno.test("parseSimulatorArgs reads --port and --kubeconfig with defaults", () => {
  assert.deepEqual(parseSimulatorArgs([]), { port: 0, kubeconfigPath: ".data/simulator.kubeconfig" });
  assert.deepEqual(parseSimulatorArgs(["--port=6443", "--kubeconfig=/tmp/k"]), {
    port: 6443,
    kubeconfigPath: "/tmp/k",
  });
});

Deno.test("parseSimulatorArgs reports every bad argument at once", () => {
  assert.throws(() => parseSimulatorArgs(["--port=70000", "--verbose"]), {
    name: "TypeError",
    message:
      'Cannot read the arguments: "--port=70000" is not --port=<0-65535> or --kubeconfig=<path>; "--verbose" is not --port=<0-65535> or --kubeconfig=<path>',
  });
});

Deno.test("main.ts serves a simulator with an ongoing scenario, writes its kubeconfig and stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simulator-main-" });
  const kubeconfigPath = `${dir}/sub/kubeconfig`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../../relay/simulator/main.ts", import.meta.url).pathname,
      `--kubeconfig=${kubeconfigPath}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const started = JSON.parse(text.split("\n")[0]!);
    assert.equal(started.msg, "simulator listening");
    assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok((await Deno.readTextFile(kubeconfigPath)).includes(`server: "${started.url}"`));
    const list = await (await fetch(`${started.url}/api/v1/namespaces/demo/events`)).json();
    assert.ok(list.items.length >= 2, `only ${list.items.length} events`);
    assert.ok(list.items.some((e: { reason: string }) => e.reason === "BackOff"));
    child.kill("SIGTERM");
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.equal((await child.status).code, 0);
    assert.equal(JSON.parse(text.trim().split("\n").at(-1)!).msg, "simulator stopped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
