import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { HandlerClient } from "../../../relay/send/handler_client.ts";
import { gzipLines } from "../../../relay/send/gzip_ndjson.ts";
import { createRelayMetrics, type RelayMetrics } from "../../../relay/metrics.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import type { Batch } from "../../../relay/pipeline/batcher.ts";
import type { TokenReader } from "../../../relay/send/token_reader.ts";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A real HTTP server answering with `answers` in turn (the last one repeats); records what it received. */
async function withServer(
  answers: ((request: Seen) => Response)[],
  fn: (url: string, seen: Seen[], rejected: Record<string, number>, client: HandlerClient) => Promise<void>,
  options: { readToken?: TokenReader; retries?: string[] } = {},
) {
  const seen: Seen[] = [];
  let index = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    const raw = new Uint8Array(await request.arrayBuffer());
    const body = request.headers.get("content-encoding") === "gzip"
      ? await new Response(new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
      : new TextDecoder().decode(raw);
    const entry = {
      method: request.method,
      path: new URL(request.url).pathname,
      headers: Object.fromEntries(request.headers),
      body,
    };
    seen.push(entry);
    return answers[Math.min(index++, answers.length - 1)]!(entry);
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
    sendRetries: {
      add(_value: number, attributes?: Record<string, unknown>) {
        options.retries?.push(String(attributes?.reason));
      },
    } as RelayMetrics["sendRetries"],
  };
  const url = `http://127.0.0.1:${server.addr.port}`;
  const client = new HandlerClient({
    url,
    cluster: "c1",
    readToken: options.readToken ?? (() => Promise.resolve("t0ken")),
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

Deno.test("HandlerClient.sendBatch retries 503, 429, 408 and 500, then succeeds with the same body", async () => {
  await withServer(
    [
      problem(503, "DATABASE_UNAVAILABLE"),
      problem(429, "TOO_MANY"),
      problem(408, "BODY_READ_TIMEOUT"),
      problem(500, "INTERNAL"),
      ok,
    ],
    async (_url, seen, rejected, client) => {
      const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
      assert.equal(outcome.status, "stored");
      assert.deepEqual(rejected, {});
      assert.equal(seen.length, 5);
      assert.deepEqual(new Set(seen.map((s) => s.body)).size, 1);
    },
  );
});

Deno.test("HandlerClient.sendBatch never retries a 400 or 415 and counts every line as rejected under its code", async () => {
  for (const [status, code] of [[400, "INVALID_CONTENT_ENCODING"], [415, "UNSUPPORTED_MEDIA_TYPE"]] as const) {
    await withServer([problem(status, code), ok], async (_url, seen, rejected, client) => {
      const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
      assert.deepEqual(outcome, { status: "refused", httpStatus: status, code });
      assert.equal(seen.length, 1);
      assert.deepEqual(rejected, { [code]: 2 });
    });
  }
});

const FOUR_LINES: Batch = {
  lines: ["a\n", "b\n", "c\n", "d\n"],
  bytes: 8,
  eventCount: 4,
  gapCount: 0,
  resumeVersion: "99",
};
/** Refuses with 413 any request holding more than `recordsMax` lines; stores the others. */
const recordsMax = (max: number) => (request: Seen) => {
  const lines = request.body.split("\n").filter((l) => l !== "").length;
  return lines > max
    ? problem(413, "TOO_MANY_RECORDS")()
    : Response.json({ accepted: lines, duplicates: 0, rejected: [] });
};

Deno.test("HandlerClient.sendBatch splits a batch refused with 413 into halves, the resume point on the last", async () => {
  await withServer([recordsMax(1)], async (_url, seen, rejected, client) => {
    const outcome = await client.sendBatch(FOUR_LINES, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, { status: "stored", response: { accepted: 4, duplicates: 0, rejected: [] } });
    assert.deepEqual(
      seen.map((s) => [s.body, s.headers["ingester-resume-version"] ?? null]),
      [
        ["a\nb\nc\nd\n", "99"],
        ["a\nb\n", null],
        ["a\n", null],
        ["b\n", null],
        ["c\nd\n", "99"],
        ["c\n", null],
        ["d\n", "99"],
      ],
    );
    assert.deepEqual(rejected, {});
  });
});

Deno.test("HandlerClient.sendBatch splits a gzipped batch refused with 413 by decompressing it", async () => {
  await withServer([recordsMax(2)], async (_url, seen, rejected, client) => {
    const batch = { body: await gzipLines(FOUR_LINES.lines), records: 4, resumeVersion: "99" };
    const outcome = await client.sendBatch(batch, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, { status: "stored", response: { accepted: 4, duplicates: 0, rejected: [] } });
    assert.deepEqual(
      seen.map((s) => [s.body, s.headers["ingester-resume-version"] ?? null]),
      [["a\nb\nc\nd\n", "99"], ["a\nb\n", null], ["c\nd\n", "99"]],
    );
    assert.deepEqual(rejected, {});
  });
});

Deno.test("HandlerClient.sendBatch drops a single record refused with 413 and reports it with its code", async () => {
  const tooLarge = (request: Seen) =>
    request.body.includes("c") ? problem(413, "BODY_TOO_LARGE")() : recordsMax(2)(request);
  await withServer([tooLarge], async (_url, seen, rejected, client) => {
    const outcome = await client.sendBatch(FOUR_LINES, { fence: FENCE, signal: new AbortController().signal });
    assert.deepEqual(outcome, {
      status: "stored",
      response: {
        accepted: 3,
        duplicates: 0,
        rejected: [{
          line: 3,
          code: "BODY_TOO_LARGE",
          message: "Cannot store the record: the handler refused it alone with 413 BODY_TOO_LARGE",
        }],
      },
    });
    assert.deepEqual(seen.map((s) => s.body), ["a\nb\nc\nd\n", "a\nb\n", "c\nd\n", "c\n", "d\n"]);
    assert.deepEqual(rejected, { BODY_TOO_LARGE: 1 });
  });
});

Deno.test("HandlerClient.sendBatch keeps a batch refused with 401/403, re-reads the token and retries it", async () => {
  const tokens = ["old", "old", "new"];
  const reads: boolean[] = [];
  const retries: string[] = [];
  const readToken: TokenReader = (options = {}) => {
    reads.push(options.isForced === true);
    return Promise.resolve(tokens[Math.min(reads.length - 1, tokens.length - 1)]!);
  };
  await withServer(
    [problem(401, "INVALID_TOKEN"), problem(403, "FORBIDDEN_CLUSTER"), ok],
    async (_url, seen, rejected, client) => {
      const outcome = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
      assert.equal(outcome.status, "stored");
      assert.deepEqual(seen.map((s) => s.headers["authorization"]), ["Bearer old", "Bearer old", "Bearer new"]);
      assert.deepEqual(new Set(seen.map((s) => s.body)).size, 1);
      assert.deepEqual(reads, [false, true, true]);
      assert.deepEqual(retries, ["401", "403"]);
      assert.deepEqual(rejected, {});
      assert.equal(client.authRefusal, undefined);
    },
    { readToken, retries },
  );
});

Deno.test("HandlerClient.authRefusal names the refusal while the handler refuses the token", async () => {
  await withServer([problem(401, "INVALID_TOKEN")], async (_url, seen, rejected, client) => {
    const controller = new AbortController();
    const sending = client.sendBatch(BATCH, { fence: FENCE, signal: controller.signal });
    while (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(client.authRefusal, "401 INVALID_TOKEN");
    controller.abort(new Error("shutdown"));
    await assert.rejects(sending, { message: "shutdown" });
    assert.deepEqual(rejected, {});
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

Deno.test("HandlerClient.sendBatch abandons a request that gets no answer, or half of one, within requestTimeoutMs", async () => {
  // A raw socket server: the 1st connection gets nothing, the 2nd the headers and half the body, the 3rd the answer.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const body = JSON.stringify({ accepted: 2, duplicates: 0, rejected: [] });
  const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
  const serving = (async () => {
    for await (const conn of listener) {
      connections.push(conn);
      const buffer = new Uint8Array(65_536);
      await conn.read(buffer); // the request (small enough for one read here)
      const encoder = new TextEncoder();
      if (connections.length === 2) await conn.write(encoder.encode(head + body.slice(0, 10)));
      if (connections.length >= 3) await conn.write(encoder.encode(head + body));
    }
  })();
  const retries: string[] = [];
  const metrics: RelayMetrics = {
    ...createRelayMetrics(createNoopMeter()),
    sendRetries: {
      add: (_value: number, attributes?: Record<string, unknown>) => retries.push(String(attributes?.reason)),
    },
  } as RelayMetrics;
  const client = new HandlerClient({
    url: `http://127.0.0.1:${listener.addr.port}`,
    cluster: "c1",
    readToken: () => Promise.resolve("t0ken"),
    retryBackoffBaseMs: 1,
    retryBackoffMaxMs: 5,
    requestTimeoutMs: 300,
    metrics,
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
  try {
    const startedMs = performance.now();
    const result = await client.sendBatch(BATCH, { fence: FENCE, signal: new AbortController().signal });
    const elapsedMs = performance.now() - startedMs;
    assert.equal(result.status, "stored");
    assert.deepEqual(retries, ["TIMEOUT", "TIMEOUT"]);
    assert.ok(elapsedMs >= 600 && elapsedMs < 3_000, `two 300 ms timeouts took ${elapsedMs} ms`);
  } finally {
    listener.close();
    closeAll(connections);
    await serving.catch(() => {});
  }
});

/** Closes the test server's connections; one the client already closed is skipped. */
function closeAll(connections: Deno.Conn[]): void {
  for (const conn of connections) {
    try {
      conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}
