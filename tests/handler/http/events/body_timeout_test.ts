/**
 * A client that opens a request, sends part of its body and then stalls with the connection open, over a real
 * socket to the real app: it is answered 408 BODY_READ_TIMEOUT after BODY_IDLE_TIMEOUT_S, nothing of its body is
 * stored, and the handler keeps serving.
 */
import assert from "node:assert/strict";
import { assertStillServes, countRows, eventRecord, ndjson, TOKEN, withApp } from "../app_harness.ts";

/** Reads from `connection` until the peer closes it or `deadlineMs` passes; returns what arrived. */
async function readUntilClosed(connection: Deno.Conn, deadlineMs: number): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  let text = "";
  const timer = setTimeout(() => connection.close(), deadlineMs);
  try {
    for (let n = await connection.read(buffer); n !== null; n = await connection.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      if (/\r\n\r\n[\s\S]*"code":"[A-Z_]+"[\s\S]*}/.test(text)) break;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error; // closed by the deadline
  } finally {
    clearTimeout(timer);
  }
  return text;
}

Deno.test("POST /v1/events answers a body that stops arriving with 408 BODY_READ_TIMEOUT and stores nothing", async () => {
  await withApp(async (h) => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, h.app.fetch);
    try {
      const firstPart = new TextEncoder().encode(ndjson([eventRecord(), eventRecord()]));
      const connection = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const head = [
        "POST /v1/events HTTP/1.1",
        `Host: 127.0.0.1:${server.addr.port}`,
        `Authorization: Bearer ${TOKEN}`,
        "Content-Type: application/x-ndjson",
        `Content-Length: ${firstPart.byteLength + 100_000}`,
        "",
        "",
      ].join("\r\n");
      await connection.write(new TextEncoder().encode(head));
      await connection.write(firstPart);
      const started = performance.now();
      const answer = await readUntilClosed(connection, 10_000);
      const waitedMs = performance.now() - started;
      connection.close();
      assert.match(answer, /^HTTP\/1\.1 408 /);
      const problem = JSON.parse(answer.slice(answer.indexOf("{"), answer.lastIndexOf("}") + 1));
      assert.equal(problem.code, "BODY_READ_TIMEOUT");
      assert.equal(problem.status, 408);
      assert.equal(
        problem.detail,
        "Cannot read the request body: no bytes arrived for 0.3 s (BODY_IDLE_TIMEOUT_S); nothing was written",
      );
      assert.ok(waitedMs >= 250 && waitedMs < 5_000, `answered after ${waitedMs} ms`);
      // The two complete lines that did arrive are not stored either: a request is stored whole or not at all.
      assert.equal(await countRows(h.sql, h.schema), 0);
      await assertStillServes(h);
    } finally {
      await server.shutdown();
    }
  }, { BODY_IDLE_TIMEOUT_S: "0.3" });
});
