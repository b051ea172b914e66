import assert from "node:assert/strict";
import {
  INITIAL_EVENTS_END_ANNOTATION,
  toBookmarkLine,
  toExpiredLine,
} from "../../../../relay/simulator/routes/watch_stream.ts";

Deno.test("toBookmarkLine writes a BOOKMARK Event carrying only the resourceVersion", () => {
  assert.equal(
    toBookmarkLine(42),
    '{"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"42"}}}\n',
  );
});

Deno.test("toBookmarkLine adds the annotations it is given", () => {
  assert.equal(
    toBookmarkLine(7, { [INITIAL_EVENTS_END_ANNOTATION]: "true" }),
    '{"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1","metadata":' +
      '{"resourceVersion":"7","annotations":{"k8s.io/initial-events-end":"true"}}}}\n',
  );
});

Deno.test("toExpiredLine writes an ERROR event with a 410 Expired Status naming the cursor and the floor", () => {
  const line = toExpiredLine(5, 120);
  assert.ok(line.endsWith("}\n"));
  assert.deepEqual(JSON.parse(line), {
    type: "ERROR",
    object: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "too old resource version: 5 (120)",
      reason: "Expired",
      code: 410,
    },
  });
});
