import assert from "node:assert/strict";
import { dedupeRows, RowDeduper } from "../../../handler/ingest/row_dedupe.ts";
import { makeRow } from "../store/store_support.ts";

Deno.test("dedupeRows keeps the first of each (globalUid, resourceVersion) in order and counts the repeats", () => {
  const a = makeRow("c1", 1);
  const b = makeRow("c1", 2);
  const aNewer = makeRow("c1", 1, { resourceVersion: "5000" });
  const result = dedupeRows([a, b, { ...a, message: "repeat" }, aNewer, b]);
  assert.deepEqual(result, { rows: [a, b, aNewer], repeats: 2 });
});

Deno.test("RowDeduper drops repeats across chunks, for one version and for several versions of one event", () => {
  const deduper = new RowDeduper();
  const v1 = makeRow("c1", 1);
  const v2 = makeRow("c1", 1, { resourceVersion: "5000" });
  const v3 = makeRow("c1", 1, { resourceVersion: "5001" });
  const other = makeRow("c2", 1);
  assert.deepEqual(deduper.add([v1, other]), [v1, other]);
  assert.deepEqual(deduper.add([v1, v2, v1]), [v2]);
  assert.deepEqual(deduper.add([v3, v2, { ...v3 }, other]), [v3]);
  assert.deepEqual(deduper.add([]), []);
  assert.equal(deduper.repeats, 5);
});
