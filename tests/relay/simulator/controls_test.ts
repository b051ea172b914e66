import assert from "node:assert/strict";
import { ApiException, CoreV1Api } from "@kubernetes/client-node";
import { Controls } from "../../../relay/simulator/controls.ts";
import { recordWatch, toKubeConfig, withSimulator } from "./kube_client_support.ts";

Deno.test("injectErrors answers the next matching requests with the status, then the real answer", async () => {
  await withSimulator(async (simulator) => {
    const api = toKubeConfig(simulator).makeApiClient(CoreV1Api);
    simulator.injectErrors({ method: "GET", pathPattern: /^\/api\/v1\/events/, status: 503, times: 2 });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(api.listEventForAllNamespaces(), (error: unknown) => {
        assert.ok(error instanceof ApiException);
        assert.equal(error.code, 503);
        assert.equal(error.headers["retry-after"], "1");
        return true;
      });
    }
    const list = await api.listEventForAllNamespaces();
    assert.equal(list.items.length, 0);
    assert.deepEqual(simulator.requestLog.map((r) => `${r.method} ${r.path} ${r.status}`), [
      "GET /api/v1/events 503",
      "GET /api/v1/events 503",
      "GET /api/v1/events 200",
    ]);
  });
});

Deno.test("injectErrors matches the query string, so a watch can fail with HTTP 410", async () => {
  await withSimulator(async (simulator) => {
    simulator.injectErrors({ pathPattern: /watch=true/, status: 410, times: 1 });
    const watch = await recordWatch(simulator, "/api/v1/events", { resourceVersion: simulator.resourceVersion });
    const error = await watch.done as { statusCode?: number };
    assert.equal(error.statusCode, 410);
    const list = await fetch(`${simulator.url}/api/v1/events`);
    assert.equal(list.status, 200);
    await list.body?.cancel();
  });
});

Deno.test("injectErrors leaves requests of another method alone", async () => {
  await withSimulator(async (simulator) => {
    simulator.injectErrors({ method: "put", pathPattern: /leases/, status: 500, times: 1 });
    const get = await fetch(`${simulator.url}/apis/coordination.k8s.io/v1/namespaces/a/leases/x`);
    assert.equal(get.status, 404);
    await get.body?.cancel();
    const put = await fetch(`${simulator.url}/apis/coordination.k8s.io/v1/namespaces/a/leases/x`, {
      method: "PUT",
      body: "{}",
    });
    assert.equal(put.status, 500);
    assert.equal((await put.json()).message, "injected failure with status 500");
  });
});

Deno.test("Controls.addErrorRule refuses a status that is not an error and a non-positive count", () => {
  const controls = new Controls();
  assert.throws(() => controls.addErrorRule({ pathPattern: /x/, status: 200, times: 1 }), {
    name: "RangeError",
    message: "Cannot inject errors: status 200 is not an HTTP error status",
  });
  assert.throws(() => controls.addErrorRule({ pathPattern: /x/, status: 500, times: 0 }), {
    name: "RangeError",
    message: "Cannot inject errors: times 0 is not a positive integer",
  });
});

Deno.test("setLatency delays every response", async () => {
  await withSimulator(async (simulator) => {
    simulator.setLatency(500);
    const startedAt = performance.now();
    const response = await fetch(`${simulator.url}/version`);
    await response.body?.cancel();
    const elapsedMs = performance.now() - startedAt;
    assert.ok(elapsedMs >= 495, `answered after ${elapsedMs} ms`);
    simulator.setLatency(0);
    const quickStart = performance.now();
    await (await fetch(`${simulator.url}/version`)).body?.cancel();
    assert.ok(performance.now() - quickStart < 400);
    assert.throws(() => simulator.setLatency(-1), {
      name: "RangeError",
      message: "Cannot set latency: -1 ms is not a duration",
    });
  });
});
