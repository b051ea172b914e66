import assert from "node:assert/strict";
import { KubeApiError } from "../../../relay/kube/kube_api.ts";
import { readWatchEvents, toWatchEvent } from "../../../relay/kube/watch_reader.ts";

function body(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

const options = () => ({ lineBytesMax: 1024, idleTimeoutMs: 1_000, signal: new AbortController().signal });

Deno.test("readWatchEvents decodes ADDED, MODIFIED, DELETED and BOOKMARK lines, CRLF included", async () => {
  const text = [
    '{"type":"ADDED","object":{"metadata":{"uid":"u","resourceVersion":"1"}}}',
    '{"type":"MODIFIED","object":{"metadata":{"uid":"u","resourceVersion":"2"}}}\r',
    '{"type":"BOOKMARK","object":{"kind":"Event","metadata":{"resourceVersion":"3"}}}',
    '{"type":"DELETED","object":{"metadata":{"uid":"u","resourceVersion":"4"}}}',
  ].join("\n");
  const seen = [];
  for await (const event of readWatchEvents(body(text), options())) seen.push([event.type, event.resourceVersion]);
  assert.deepEqual(seen, [["ADDED", "1"], ["MODIFIED", "2"], ["BOOKMARK", "3"], ["DELETED", "4"]]);
});

Deno.test("toWatchEvent turns an ERROR notification into KubeApiError with the Status code", () => {
  assert.throws(
    () =>
      toWatchEvent({
        type: "ERROR",
        object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 1 (5)" },
      }),
    (error: unknown) =>
      error instanceof KubeApiError && error.status === 410 && error.reason === "Expired" &&
      error.message === "Cannot continue the watch: too old resource version: 1 (5)",
  );
});

Deno.test("readWatchEvents fails with IdleTimeout when no byte arrives for idleTimeoutMs", async () => {
  const silent = new ReadableStream<Uint8Array>({ start() {} });
  const read = async () => {
    for await (const _ of readWatchEvents(silent, { ...options(), idleTimeoutMs: 50 })) {
      // nothing arrives
    }
  };
  await assert.rejects(read, (error: unknown) => error instanceof KubeApiError && error.reason === "IdleTimeout");
});

Deno.test("readWatchEvents stops with the signal's reason when aborted during a read", async () => {
  const silent = new ReadableStream<Uint8Array>({ start() {} });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("shutdown")), 30);
  const read = async () => {
    for await (const _ of readWatchEvents(silent, { ...options(), signal: controller.signal })) {
      // nothing arrives
    }
  };
  await assert.rejects(read, { message: "shutdown" });
});
