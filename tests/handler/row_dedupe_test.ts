import assert from "node:assert/strict";
import { dedupeRows } from "../../handler/row_dedupe.ts";
import { makeRow } from "./store_support.ts";

Deno.test("dedupeRows keeps the first of each (globalUid, resourceVersion) in order and counts the repeats", () => {
  const a = makeRow("c1", 1);
  const b = makeRow("c1", 2);
  const aNewer = makeRow("c1", 1, { resourceVersion: "5000" });
  const result = dedupeRows([a, b, { ...a, message: "repeat" }, aNewer, b]);
  assert.deepEqual(result, { rows: [a, b, aNewer], repeats: 2 });
});
