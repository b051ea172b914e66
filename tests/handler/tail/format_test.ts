import assert from "node:assert/strict";
import { formatTailLine, toDisplayText, toDisplayTime } from "../../../handler/tail/format.ts";
import type { TailRow } from "../../../handler/tail/row.ts";

const row: TailRow = {
  eventId: "6f1c2a4e-8d7b-4c1e-9f0a-2b3c4d5e6f70",
  globalUid: "prod-a:uid-1",
  createdAt: new Date("2026-11-25T17:31:02.456Z"),
  createdAtKey: "2026-11-25 17:31:02.456789+00",
  clusterName: "prod-a",
  namespace: "shop",
  resourceKind: "apps/v1.Deployment",
  resourceName: "web",
  eventType: "Warning",
  reason: "BackOff",
  message: "Back-off restarting failed container",
};

Deno.test("formatTailLine prints time, cluster, namespace, kind/name, type, reason and message on one line", () => {
  assert.equal(
    formatTailLine(row, { isColor: false }),
    "2026-11-25T17:31:02Z prod-a shop apps/v1.Deployment/web Warning BackOff Back-off restarting failed container",
  );
});

Deno.test("formatTailLine shows a missing field as -", () => {
  const bare = { ...row, namespace: null, resourceKind: null, resourceName: null, eventType: null, reason: null };
  assert.equal(
    formatTailLine({ ...bare, message: null }, { isColor: false }),
    "2026-11-25T17:31:02Z prod-a - -/- - - -",
  );
});

Deno.test("formatTailLine colours Warning lines yellow only when isColor", () => {
  assert.equal(
    formatTailLine(row, { isColor: true }),
    "\x1b[33m2026-11-25T17:31:02Z prod-a shop apps/v1.Deployment/web Warning BackOff Back-off restarting failed container\x1b[0m",
  );
  const normal = { ...row, eventType: "Normal", reason: "Pulled", message: "ok" };
  assert.equal(
    formatTailLine(normal, { isColor: true }),
    "2026-11-25T17:31:02Z prod-a shop apps/v1.Deployment/web Normal Pulled ok",
  );
});

Deno.test("toDisplayText turns line breaks and terminal escapes into single spaces", () => {
  assert.equal(toDisplayText("line one\r\nline two\x1b[2J\ttabbed\u009b"), "line one line two [2J tabbed");
  assert.equal(toDisplayText("  \n "), "-");
  assert.equal(toDisplayText(null), "-");
});

Deno.test("toDisplayTime prints UTC to the second", () => {
  assert.equal(toDisplayTime(new Date("2026-01-02T03:04:05.999Z")), "2026-01-02T03:04:05Z");
});
