/**
 * The handler's HTTP edge against hostile clients, over real sockets with raw HTTP/1.1 (fetch sends none of this), in
 * the two ways it runs: `handler/main.ts` and `deno serve handler/serve.ts`. Every answer is an RFC 9457 problem, and
 * the process writes nothing to stderr and only JSON lines to stdout.
 */
import assert from "node:assert/strict";
import { findFreePort } from "../../../handler/dev/embedded_database.ts";
import { withTestSchema } from "../../support/database.ts";
import { countRows, eventRecord, ndjson, testEnv, TOKEN } from "./app_harness.ts";
import { exchangeRaw, type RawResponse, type RawStep } from "../../support/raw_http.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../../support/subprocess.ts";

/** Host header values RFC 3986 does not allow, each of which made the runtime's `request.url` unparsable. */
const INVALID_HOSTS = ["a b", "[", "%", "a:b:c", "localhost:-1"];

/** Lets the server read what was sent so far as one packet, so it starts the request before the next bytes. */
const PAUSE: RawStep = { pauseMs: 300 };

const COMMANDS = {
  "handler/main.ts": (_port: number) => ["run", "-A", "handler/main.ts"],
  "deno serve handler/serve.ts": (port: number) => [
    "serve",
    "-A",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "handler/serve.ts",
  ],
};

/** Runs the handler the given way, hands its port to `fn`, then stops it and checks what it wrote. */
async function withHandler(
  how: keyof typeof COMMANDS,
  fn: (port: number, schema: string, sql: Parameters<Parameters<typeof withTestSchema>[0]>[1]) => Promise<void>,
): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    const port = await findFreePort();
    const child = spawnDeno(COMMANDS[how](port), { ...await testEnv(schema), PORT: String(port) });
    let output;
    try {
      await waitUntilAnswering(child, `http://127.0.0.1:${port}/readyz`);
      await fn(port, schema, sql);
    } finally {
      output = await stopChild(child);
    }
    assert.equal(output.code, 0, output.stderr);
    assert.equal(output.stderr, "");
    for (const line of output.stdout.split("\n").filter((l) => l !== "")) {
      assert.doesNotThrow(() => JSON.parse(line), `not a JSON log line: ${line}`);
    }
  });
}

function assertProblem(response: RawResponse | null, status: number, code: string): void {
  assert.ok(response !== null, `no answer where ${status} ${code} was due`);
  assert.equal(response.status, status, response.body);
  assert.equal(response.headers["content-type"], "application/problem+json");
  const problem = JSON.parse(response.body);
  assert.deepEqual([problem.status, problem.code, problem.type], [
    status,
    code,
    `urn:events-ingester:problem:${code}`,
  ]);
}

function hostRequest(host: string): string {
  return `GET /livez HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}

for (const how of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
  Deno.test(`${how} answers a Host header that is not a host[:port] with 400 INVALID_HEADER, logging only JSON`, async () => {
    await withHandler(how, async (port) => {
      for (const host of INVALID_HOSTS) {
        const response = await exchangeRaw(port, [hostRequest(host)]);
        assertProblem(response, 400, "INVALID_HEADER");
        assert.equal(
          JSON.parse(response!.body).detail,
          "Cannot route the request: the Host header is not a valid host[:port]",
          host,
        );
      }
      // Valid hosts of every form still reach the routes.
      for (const host of ["[::1]:8080", "handler.example:8080", "127.0.0.1", "x%41y"]) {
        const response = await exchangeRaw(port, [hostRequest(host)]);
        assert.deepEqual([response?.status, response?.body], [200, '{"status":"live"}'], host);
      }
    });
  });
}

/** The head of a chunked `POST /v1/events` with cluster-a's token. */
function chunkedHead(): string {
  return `POST /v1/events HTTP/1.1\r\nHost: handler.test\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
}

/** One valid chunk of valid event lines: stored, were the rest of the body fine. */
function validChunk(): string {
  const text = ndjson([eventRecord(), eventRecord()]);
  return `${new TextEncoder().encode(text).length.toString(16)}\r\n${text}\r\n`;
}

for (const how of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
  Deno.test(`${how} answers broken chunked framing with 400 BODY_MALFORMED and stores nothing`, async () => {
    await withHandler(how, async (port, schema, sql) => {
      const line = ndjson([eventRecord()]);
      const size = new TextEncoder().encode(line).length.toString(16);
      const cases: Record<string, string> = {
        "a chunk not followed by CRLF": `${size}\r\n${line}XX0\r\n\r\n`,
        "a chunk size that is not hex": `zz\r\n${line}\r\n0\r\n\r\n`,
        "a chunk size too large for any length": `ffffffffffffffffffff\r\n${line}\r\n0\r\n\r\n`,
      };
      for (const [name, broken] of Object.entries(cases)) {
        const response = await exchangeRaw(port, [chunkedHead(), PAUSE, validChunk(), PAUSE, broken]);
        assertProblem(response, 400, "BODY_MALFORMED");
        assert.equal(
          JSON.parse(response!.body).detail,
          "Cannot read the request body: its HTTP/1.1 chunked framing is invalid; nothing was written",
          name,
        );
      }
      // Sent with the head in one packet, the runtime refuses the framing before the handler sees the request: it
      // closes the connection without an answer.
      assert.equal(await exchangeRaw(port, [chunkedHead() + `zz\r\n${line}\r\n0\r\n\r\n`]), null);
      assert.equal(await countRows(sql, schema), 0);
    });
  });

  Deno.test(`${how} stores nothing of a body whose client goes away part-way, and serves on`, async () => {
    await withHandler(how, async (port, schema, sql) => {
      const line = ndjson([eventRecord()]);
      // A chunk cut short, then the client is gone.
      assert.equal(
        await exchangeRaw(port, [chunkedHead(), PAUSE, validChunk(), `400\r\n${line}`, PAUSE, "close"]),
        null,
      );
      // A body shorter than its Content-Length, then the client is gone.
      const head = `POST /v1/events HTTP/1.1\r\nHost: handler.test\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        "Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n";
      assert.equal(await exchangeRaw(port, [head, PAUSE, line, PAUSE, "close"]), null);
      // The answer to nobody is written before the next request is taken; give the server a moment to finish both.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await countRows(sql, schema), 0);
      const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
        body: ndjson([eventRecord()]),
      });
      assert.deepEqual([response.status, await response.json()], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
      assert.equal(await countRows(sql, schema), 1);
    });
  });
}
