import assert from "node:assert/strict";
import { createApp } from "../../../handler/http/app.ts";
import type { BatchOutcome, ResponseInfo } from "../../../handler/http/app_observer.ts";
import { toRouteName } from "../../../handler/http/app_observer.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { eventRecord, eventsRequest, gapRecord, ndjson, withApp } from "./app_harness.ts";

Deno.test("createApp reports each response and each batch to its observer", async () => {
  await withApp(async (h) => {
    const responses: ResponseInfo[] = [];
    const batches: BatchOutcome[] = [];
    let ticks = 0;
    const app = createApp({
      config: h.config,
      store: h.store,
      logger: createLogger({ isDebug: false, write: () => {} }),
      now: () => new Date("2026-11-25T12:00:00Z"),
      // Each reading is 250 ms after the previous one: a batch reads it four times, a probe twice.
      clockMs: () => 250 * ticks++,
      observer: { onResponse: (info) => responses.push(info), onBatch: (outcome) => batches.push(outcome) },
    });
    const record = eventRecord();
    const body = ndjson([record, record, "nope", gapRecord()]);
    assert.equal((await app.fetch(await eventsRequest(body))).status, 200);
    const fenced = { "ingester-fence-holder": "a", "ingester-fence-transitions": "2" };
    assert.equal((await app.fetch(await eventsRequest(ndjson([eventRecord()]), { headers: fenced }))).status, 200);
    const older = { "ingester-fence-holder": "b", "ingester-fence-transitions": "1" };
    assert.equal((await app.fetch(await eventsRequest(ndjson([eventRecord()]), { headers: older }))).status, 409);
    assert.equal((await app.fetch(new Request("http://handler.test/livez"))).status, 200);
    assert.deepEqual(responses, [
      { route: "events", status: 200, durationS: 0.75 },
      { route: "events", status: 200, durationS: 0.75 },
      { route: "events", status: 409, durationS: 0.75 },
      { route: "probe", status: 200, durationS: 0.25 },
    ]);
    assert.equal(batches.length, 3);
    const [first, , third] = batches;
    assert.deepEqual(
      [first?.cluster, first?.rows.length, first?.gaps.length, first?.rejected.map((r) => r.code), first?.result],
      ["cluster-a", 2, 1, ["INVALID_JSON"], { inserted: 1, duplicates: 1, gapsInserted: 1 }],
    );
    assert.equal(first?.committedAt?.toISOString(), "2026-11-25T12:00:00.000Z");
    assert.deepEqual(batches.map((batch) => batch.durationS), [0.25, 0.25, 0.25]);
    assert.deepEqual([third?.failure, third?.result, third?.committedAt], ["fenced", undefined, undefined]);
  });
});

Deno.test("createApp serves renderMetrics at GET /metrics, and 404 without it", async () => {
  await withApp(async (h) => {
    const logger = createLogger({ isDebug: false, write: () => {} });
    const app = createApp({ config: h.config, store: h.store, logger, renderMetrics: () => Promise.resolve("x 1\n") });
    const response = await app.fetch(new Request("http://handler.test/metrics"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(await response.text(), "x 1\n");
    const without = await h.app.fetch(new Request("http://handler.test/metrics"));
    assert.equal(without.status, 404);
    await without.body?.cancel();
  });
});

Deno.test("createApp goes on when its observer throws, and logs it", async () => {
  await withApp(async (h) => {
    const logs: string[] = [];
    const app = createApp({
      config: h.config,
      store: h.store,
      logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
      observer: {
        onResponse: () => {
          throw new Error("broken meter");
        },
      },
    });
    const response = await app.fetch(new Request("http://handler.test/livez"));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(logs.map((l) => [JSON.parse(l).msg, JSON.parse(l).error]), [
      ["observer failed", "Error: broken meter"],
    ]);
  });
});

Deno.test("toRouteName gives bounded labels", () => {
  assert.deepEqual(
    ["/v1/events", "/v1/checkpoints/x", "/livez", "/readyz", "/metrics", "/etc/passwd"].map(toRouteName),
    ["events", "checkpoints", "probe", "probe", "metrics", "other"],
  );
});
