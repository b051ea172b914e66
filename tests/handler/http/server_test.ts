import assert from "node:assert/strict";
import { serveApp } from "../../../handler/http/server.ts";
import type { App } from "../../../handler/http/app.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { countRows, eventRecord, ndjson, TOKEN, withApp } from "./app_harness.ts";
import { gzip } from "../../support/gzip.ts";

function eventsInit(body: BodyInit, isGzip: boolean): RequestInit {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" };
  if (isGzip) headers["content-encoding"] = "gzip";
  return { method: "POST", headers, body };
}

/** An app that resolves `reached` when a request arrives, before handing it on. */
function observed(app: App): { app: App; reached: Promise<void> } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { app: { fetch: (request) => (resolve(), app.fetch(request)) }, reached: promise };
}

Deno.test("serveApp serves the app over a real socket and stops cleanly", async () => {
  await withApp(async (h) => {
    const controller = new AbortController();
    const logs: string[] = [];
    const serving = serveApp({
      app: h.app,
      port: 0,
      hostname: "127.0.0.1",
      shutdownDeadlineS: 5,
      logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
      signal: controller.signal,
    });
    assert.ok(serving.port > 0);
    const base = `http://127.0.0.1:${serving.port}`;
    const response = await fetch(
      `${base}/v1/events`,
      eventsInit(await gzip(ndjson([eventRecord(), eventRecord()])), true),
    );
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { accepted: 2, duplicates: 0, rejected: [] });
    const problem = await fetch(`${base}/v1/events`, { method: "POST" });
    assert.equal(problem.status, 401);
    assert.equal((await problem.json()).code, "MISSING_TOKEN");
    assert.equal(await countRows(h.sql, h.schema), 2);
    controller.abort();
    assert.deepEqual(await serving.finished, { isDrained: true });
    await serving.closed;
    assert.deepEqual(logs.map((line) => JSON.parse(line).msg), [
      "listening",
      "shutting down: finishing requests in flight",
    ]);
  });
});

Deno.test("serveApp finishes a request in flight on shutdown, refuses new ones with 503, then closes", async () => {
  await withApp(async (h) => {
    const controller = new AbortController();
    const { app, reached } = observed(h.app);
    const serving = serveApp({
      app,
      port: 0,
      hostname: "127.0.0.1",
      shutdownDeadlineS: 10,
      logger: createLogger({ isDebug: false, write: () => {} }),
      signal: controller.signal,
    });
    const base = `http://127.0.0.1:${serving.port}`;
    const bytes = new TextEncoder().encode(ndjson([eventRecord(), eventRecord(), eventRecord()]));
    const body = new TransformStream<Uint8Array, Uint8Array>();
    const writer = body.writable.getWriter();
    const pending = fetch(`${base}/v1/events`, eventsInit(body.readable, false));
    await writer.write(bytes.subarray(0, 100));
    await reached;
    controller.abort();
    const refused = await fetch(`${base}/v1/events`, eventsInit(await gzip(ndjson([eventRecord()])), true));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal((await refused.json()).code, "SHUTTING_DOWN");
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    await ready.body?.cancel();
    const live = await fetch(`${base}/livez`);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    // The rest of the body arrives after shutdown began; the request must still complete and be stored.
    await writer.write(bytes.subarray(100));
    await writer.close();
    const response = await pending;
    const answer = await response.json();
    assert.equal(response.status, 200, JSON.stringify(answer));
    assert.deepEqual(answer, { accepted: 3, duplicates: 0, rejected: [] });
    assert.deepEqual(await serving.finished, { isDrained: true });
    await serving.closed;
    assert.equal(await countRows(h.sql, h.schema), 3);
    await assert.rejects(fetch(`${base}/livez`), TypeError);
  });
});

Deno.test("serveApp gives up waiting after shutdownDeadlineS and reports the server not drained", async () => {
  await withApp(async (h) => {
    const controller = new AbortController();
    const logs: string[] = [];
    const { app, reached } = observed(h.app);
    const serving = serveApp({
      app,
      port: 0,
      hostname: "127.0.0.1",
      shutdownDeadlineS: 0.2,
      logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
      signal: controller.signal,
    });
    const body = new TransformStream<Uint8Array, Uint8Array>();
    const writer = body.writable.getWriter();
    const pending = fetch(`http://127.0.0.1:${serving.port}/v1/events`, eventsInit(body.readable, false));
    await writer.write(new TextEncoder().encode(ndjson([eventRecord()])));
    await reached;
    controller.abort();
    assert.deepEqual(await serving.finished, { isDrained: false });
    assert.equal(JSON.parse(logs.at(-1) as string).msg, "shutdown deadline passed with requests still in flight");
    // Let the stuck request end so the server closes before the test does.
    await writer.close();
    await (await pending).body?.cancel();
    await serving.closed;
  });
});
