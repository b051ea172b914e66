import assert from "node:assert/strict";
import { createHealthHandler, startHealthServer } from "../../relay/health_server.ts";

Deno.test("createHealthHandler answers /readyz 503 with the reason when not ready", async () => {
  const handler = createHealthHandler({
    isLive: () => true,
    readiness: () => ({ isReady: false, reason: "leader, watch idle for more than 300 s" }),
  });
  const response = await handler(new Request("http://x/readyz"));
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "leader, watch idle for more than 300 s\n");
  assert.equal((await handler(new Request("http://x/livez"))).status, 200);
  assert.equal((await handler(new Request("http://x/other"))).status, 404);
  assert.equal((await handler(new Request("http://x/metrics"))).status, 404);
  assert.equal((await handler(new Request("http://x/livez", { method: "POST" }))).status, 405);
});

Deno.test("startHealthServer serves the probes on a real socket", async () => {
  let isReady = true;
  const controller = new AbortController();
  const server = startHealthServer({
    port: 0,
    hostname: "127.0.0.1",
    signal: controller.signal,
    state: { isLive: () => true, readiness: () => ({ isReady, reason: isReady ? "standby" : "starting" }) },
  });
  try {
    const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    assert.deepEqual([ready.status, await ready.text()], [200, "standby\n"]);
    isReady = false;
    const notReady = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    assert.deepEqual([notReady.status, await notReady.text()], [503, "starting\n"]);
  } finally {
    controller.abort();
    await server.finished;
  }
});

Deno.test("createHealthHandler serves /metrics from the given source", async () => {
  const handler = createHealthHandler(
    { isLive: () => true, readiness: () => ({ isReady: true, reason: "standby" }) },
    { contentType: "text/plain; version=0.0.4; charset=utf-8", render: () => Promise.resolve("# EOF\n") },
  );
  const response = await handler(new Request("http://x/metrics"));
  assert.deepEqual(
    [response.status, response.headers.get("content-type"), await response.text()],
    [200, "text/plain; version=0.0.4; charset=utf-8", "# EOF\n"],
  );
});
