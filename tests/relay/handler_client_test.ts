import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { HandlerClient } from "../../relay/handler_client.ts";
import { createRelayMetrics, type RelayMetrics } from "../../relay/metrics.ts";
import { createLogger } from "../../shared/log.ts";
import type { Batch } from "../../relay/batcher.ts";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A real HTTP server answering with `answers` in turn (the last one repeats); records what it received. */
async function withServer(
  answers: (() => Response)[],
  fn: (url: string, seen: Seen[], rejected: Record<string, number>, client: HandlerClient) => Promise<void>,
) {
  const seen: Seen[] = [];
  let index = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    const raw = new Uint8Array(await request.arrayBuffer());
    const body = request.headers.get("content-encoding") === "gzip"
      ? await new Response(new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
      : new TextDecoder().decode(raw);
    seen.push({
      method: request.method,
      path: new URL(request.url).pathname,
      headers: Object.fromEntries(request.headers),
      body,
    });
    return answers[Math.min(index++, answers.length - 1)]!();
  });
  const rejected: Record<string, number> = {};
  const metrics: RelayMetrics = {
    ...createRelayMetrics(createNoopMeter()),
    rejectedLines: {
      add(value: number, attributes?: Record<string, unknown>) {
        const code = String(attributes?.code);
        rejected[code] = (rejected[code] ?? 0) + value;
      },
    } as RelayMetrics["rejectedLines"],
  };
  const url = `http://127.0.0.1:${server.addr.port}`;
  const client = new HandlerClient({
    url,
    cluster: "c1",
    readToken: () => Promise.resolve("t0ken"),
    retryBackoffBaseMs: 1,
    retryBackoffMaxMs: 5,
    metrics,
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
  try {
    await fn(url, seen, rejected, client);
  } finally {
    await server.shutdown();
  }
}

const BATCH: Batch = {
  lines: ['{"v":1,"kind":"event"}\n', '{"v":1,"kind":"gap"}\n'],
  bytes: 44,
  eventCount: 1,
  gapCount: 1,
  resumeVersion: "42",
};
const FENCE = { holder: "relay-0", transitions: 3 };
const ok = () => Response.json({ accepted: 2, duplicates: 0, rejected: [] });
const problem = (status: number, code: string) => () =>
  Response.json({ type: "about:blank", title: code, status, code, detail: "d" }, { status });

Deno.test("HandlerClient.sendBatch posts gzip NDJSON with the token, fence and resume version", async () => {
  await withServer([ok], async (_url, seen, _rejected, client) => {
    const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, { status: "stored", response: { accepted: 2, duplicates: 0, rejected: [] } });
    assert.equal(seen.length, 1);
    const [request] = seen;
    assert.deepEqual(
      [request!.method, request!.path, request!.body],
      ["POST", "/v1/events", BATCH.lines.join("")],
    );
    assert.equal(request!.headers["authorization"], "Bearer t0ken");
    assert.equal(request!.headers["content-type"], "application/x-ndjson");
    assert.equal(request!.headers["content-encoding"], "gzip");
    assert.equal(request!.headers["ingester-fence-holder"], "relay-0");
    assert.equal(request!.headers["ingester-fence-transitions"], "3");
    assert.equal(request!.headers["ingester-resume-version"], "42");
  });
});

Deno.test("HandlerClient.sendBatch retries 503, 429 and 500, then succeeds with the same body", async () => {
  await withServer(
    [problem(503, "DATABASE_UNAVAILABLE"), problem(429, "TOO_MANY"), problem(500, "INTERNAL"), ok],
    async (_url, seen, _rejected, client) => {
      const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
      assert.equal(outcome.status, "stored");
      assert.equal(seen.length, 4);
      assert.deepEqual(new Set(seen.map((s) => s.body)).size, 1);
    },
  );
});

Deno.test("HandlerClient.sendBatch never retries a 4xx and counts every line as rejected under its code", async () => {
  await withServer([problem(413, "BODY_TOO_LARGE"), ok], async (_url, seen, rejected, client) => {
    const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, { status: "refused", httpStatus: 413, code: "BODY_TOO_LARGE" });
    assert.equal(seen.length, 1);
    assert.deepEqual(rejected, { BODY_TOO_LARGE: 2 });
  });
});

Deno.test("HandlerClient.sendBatch reports 409 as fenced without retrying", async () => {
  await withServer([problem(409, "FENCED"), ok], async (_url, seen, rejected, client) => {
    const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, { status: "fenced" });
    assert.equal(seen.length, 1);
    assert.deepEqual(rejected, { FENCED: 2 });
  });
});

Deno.test("HandlerClient.sendBatch counts lines refused in a 200 answer by their code", async () => {
  const partial = () =>
    Response.json({
      accepted: 1,
      duplicates: 0,
      rejected: [{ line: 2, code: "MISSING_FIELD", message: "Cannot read line 2" }],
    });
  await withServer([partial], async (_url, _seen, rejected, client) => {
    const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
    assert.equal(outcome.status, "stored");
    assert.deepEqual(rejected, { MISSING_FIELD: 1 });
  });
});

Deno.test("HandlerClient.sendBatch keeps retrying until aborted when the handler is unreachable", async () => {
  await withServer([ok], async (url, _seen, _rejected) => {
    const client = new HandlerClient({
      url: url.replace(/:\d+$/, ":1"),
      cluster: "c1",
      readToken: () => Promise.resolve("t"),
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
      metrics: createRelayMetrics(createNoopMeter()),
      logger: createLogger({ isDebug: false, write: () => {} }),
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("shutdown")), 100);
    await assert.rejects(client.sendBatch(BATCH, { fence: FENCE, signal: controller.signal }), { message: "shutdown" });
  });
});

Deno.test("HandlerClient.readCheckpoint reads the cluster's resume point", async () => {
  const checkpoint = () => Response.json({ cluster: "c1", resumeVersion: "77", fence: null, updatedAt: null });
  await withServer([problem(503, "DATABASE_UNAVAILABLE"), checkpoint], async (_url, seen, _rejected, client) => {
    const answer = await client.readCheckpoint(new AbortController().signal);
    assert.equal(answer.resumeVersion, "77");
    assert.deepEqual(seen.map((s) => [s.method, s.path]), [["GET", "/v1/checkpoints/c1"], [
      "GET",
      "/v1/checkpoints/c1",
    ]]);
  });
});
