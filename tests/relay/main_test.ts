import assert from "node:assert/strict";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import { createKubeClient } from "../../relay/kube/kube_client.ts";
import { installForcedGcHook } from "../../relay/main.ts";
import { assertAllStored, waitUntil, withPipeline } from "../support/pipeline.ts";

const MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;

Deno.test("relay main exits with code 2 and lists every configuration problem", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { HANDLER_URL: "nope", LEASE_DURATION_S: "x" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  const line = JSON.parse(new TextDecoder().decode(output.stderr).trim()) as { level: string; msg: string };
  assert.equal(line.level, "error");
  assert.match(line.msg, /^Cannot load relay configuration: /);
  assert.match(line.msg, /HANDLER_URL: "nope" is not an http:\/\/ or https:\/\/ URL/);
  assert.match(line.msg, /LEASE_DURATION_S: "x" is not a number/);
  assert.match(line.msg, /HANDLER_TOKEN_FILE: is unset/);
});

Deno.test("relay main on SIGTERM flushes, releases the Lease and exits 0", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 200, namespace: "a" });
    const relay = pipeline.spawnRelay("relay-a", { FLUSH_INTERVAL_MS: "2000" });
    await waitUntil("the relay leads", () => simulator.requestLog.some((r) => r.path.includes("watch=true")));
    await simulator.burst({ count: 20, namespace: "b" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const status = await relay.kill("SIGTERM");
    assert.equal(status.code, 0);
    await assertAllStored(pipeline, 5_000);
    const kube = await createKubeClient({ connection: { mode: "kubeconfig", path: pipeline.kubeconfigPath } });
    try {
      const lease = await kube.getLease({ namespace: "default", name: "events-ingester-relay" });
      assert.equal(lease?.holderIdentity, null);
    } finally {
      kube.close();
    }
  });
});

Deno.test("relay main serves /livez, /readyz and /metrics with the relay's instruments on HEALTH_PORT", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 50, namespace: "a" });
    const port = await findFreePort();
    pipeline.spawnRelay("relay-a", { HEALTH_PORT: String(port) });
    await assertAllStored(pipeline, 10_000);
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return [response.status, await response.text()] as const;
    };
    assert.deepEqual(await get("/livez"), [200, "live\n"]);
    assert.deepEqual(await get("/readyz"), [200, "leader, watch active\n"]);
    const [status, text] = await get("/metrics");
    assert.equal(status, 200);
    assert.match(text, /^events_ingester_events_dispatched_total 50$/m);
    assert.match(text, /^events_ingester_relay_leader 1$/m);
    assert.match(text, /^events_ingester_relay_relists_total 1$/m);
  });
});

Deno.test("relay main as a standby is ready and serves its metrics without the OpenTelemetry SDK", async () => {
  await withPipeline(async (pipeline) => {
    await pipeline.simulator.burst({ count: 20, namespace: "a" });
    const leaderPort = await findFreePort();
    pipeline.spawnRelay("relay-a", { HEALTH_PORT: String(leaderPort) });
    await assertAllStored(pipeline, 10_000);
    const port = await findFreePort();
    pipeline.spawnRelay("relay-b", { HEALTH_PORT: String(port) });
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return [response.status, response.headers.get("content-type"), await response.text()] as const;
    };
    await waitUntil("the standby is ready", async () => (await get("/readyz").catch(() => [0]))[0] === 200);
    assert.deepEqual(await get("/readyz"), [200, "text/plain; charset=utf-8", "standby\n"]);
    const [status, contentType, text] = await get("/metrics");
    assert.deepEqual([status, contentType], [200, "text/plain; version=0.0.4; charset=utf-8"]);
    assert.match(text, /^# HELP target_info Target metadata\n# TYPE target_info gauge\n/);
    assert.match(text, /^target_info\{service_name="events-ingester-relay",service_instance_id="[0-9a-f-]{36}"\} 1$/m);
    assert.match(text, /^events_ingester_relay_leader 0$/m);
    assert.match(text, /^events_ingester_relay_queue_bytes 0$/m);
    assert.doesNotMatch(text, /events_ingester_events_received_total/); // a standby reads no event
  });
});

Deno.test("relay main with OTEL_ENABLED pushes its metrics over OTLP and serves the same names on /metrics", async () => {
  const bodies: { resourceMetrics: { scopeMetrics: { metrics: { name: string }[] }[] }[] }[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    let stream = request.body ?? new Blob([]).stream();
    if (request.headers.get("content-encoding") === "gzip") {
      stream = stream.pipeThrough(new DecompressionStream("gzip"));
    }
    bodies.push(JSON.parse(await new Response(stream).text()));
    return Response.json({});
  });
  try {
    await withPipeline(async (pipeline) => {
      await pipeline.simulator.burst({ count: 30, namespace: "a" });
      const port = await findFreePort();
      pipeline.spawnRelay("relay-a", {
        HEALTH_PORT: String(port),
        OTEL_ENABLED: "true",
        OTEL_EXPORT_INTERVAL: "0.2",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.addr.port}`,
      });
      await assertAllStored(pipeline, 10_000);
      const names = () =>
        new Set(
          bodies.flatMap((b) => b.resourceMetrics).flatMap((r) => r.scopeMetrics).flatMap((s) => s.metrics)
            .map((m) => m.name),
        );
      await waitUntil("a push with the dispatched counter", () => names().has("events_ingester.events.dispatched"));
      assert.ok(names().has("events_ingester.relay.leader"));
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /^events_ingester_events_dispatched_total 30$/m);
      assert.match(text, /^events_ingester_relay_leader 1$/m);
    });
  } finally {
    await receiver.shutdown();
  }
});

Deno.test("installForcedGcHook installs nothing when V8 does not expose gc", () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(installForcedGcHook(), undefined);
});

Deno.test("installForcedGcHook runs gc once per SIGUSR2 until removed", async () => {
  const global = globalThis as { gc?: () => void };
  let collections = 0;
  global.gc = () => collections++;
  let remove: (() => void) | undefined;
  // Keeps SIGUSR2 from ending the test process once the hook is removed.
  const keepAlive = () => {};
  Deno.addSignalListener("SIGUSR2", keepAlive);
  try {
    remove = installForcedGcHook();
    assert.equal(typeof remove, "function");
    Deno.kill(Deno.pid, "SIGUSR2");
    await waitUntil("the hook collected", () => collections === 1);
    remove!();
    remove = undefined;
    Deno.kill(Deno.pid, "SIGUSR2");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(collections, 1);
  } finally {
    remove?.();
    Deno.removeSignalListener("SIGUSR2", keepAlive);
    delete global.gc;
  }
});
