import assert from "node:assert/strict";
import { createApp } from "../../../handler/http/app.ts";
import { loadHandlerConfig } from "../../../handler/config.ts";
import { findFreePort } from "../../../handler/dev/embedded_database.ts";
import { createPostgresStore } from "../../../handler/store/postgres_store.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { countRows, eventRecord, eventsRequest, ndjson, testEnv, withApp } from "./app_harness.ts";

/** An app whose database does not answer: a loopback port nobody listens on. */
async function withUnreachableApp(fn: (app: ReturnType<typeof createApp>, logs: string[]) => Promise<void>) {
  const url = `postgres://postgres@127.0.0.1:${await findFreePort()}/nowhere`;
  const config = loadHandlerConfig({ ...await testEnv("public"), DATABASE_URL: url });
  const logs: string[] = [];
  const logger = createLogger({ isDebug: false, write: (line) => logs.push(line) });
  const store = createPostgresStore({ url, poolMax: 1, retentionDays: 0, connectTimeoutS: 1, logger });
  try {
    await fn(createApp({ config, store, logger }), logs);
  } finally {
    await store.close();
  }
}

Deno.test("POST /v1/events answers 503 DATABASE_UNAVAILABLE with Retry-After; the retried batch is stored", async () => {
  const body = ndjson([eventRecord(), eventRecord()]);
  await withUnreachableApp(async (app, logs) => {
    const response = await app.fetch(await eventsRequest(body));
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "5");
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(await response.json(), {
      type: "urn:events-ingester:problem:DATABASE_UNAVAILABLE",
      title: "Database unavailable",
      status: 503,
      code: "DATABASE_UNAVAILABLE",
      detail: "Cannot store the batch: the database is unavailable; nothing was written",
    });
    const logged = logs.map((line) => JSON.parse(line)).filter((line) => line.msg === "request failed");
    assert.equal(logged.length, 1);
    assert.equal(logged[0].level, "error");
    assert.equal(logged[0].code, "DATABASE_UNAVAILABLE");
    assert.equal(logged[0].path, "/v1/events");
    // Still serving: probes answer.
    const live = await app.fetch(new Request("http://handler.test/livez"));
    assert.equal(live.status, 200);
    await live.body?.cancel();
  });
  // The relay retries the same batch once the database is back: nothing was lost.
  await withApp(async (h) => {
    const response = await h.app.fetch(await eventsRequest(body));
    assert.deepEqual(await response.json(), { accepted: 2, duplicates: 0, rejected: [] });
    assert.equal(await countRows(h.sql, h.schema), 2);
  });
});

Deno.test("/readyz answers 503 NOT_READY while the database is unreachable", async () => {
  await withUnreachableApp(async (app, logs) => {
    const response = await app.fetch(new Request("http://handler.test/readyz"));
    assert.equal(response.status, 503);
    const problem = await response.json();
    assert.equal(problem.code, "NOT_READY");
    assert.equal(problem.detail, "Cannot serve: the database is unreachable or its schema is not in place");
    // Not ready is an answer, not a server error: only the store's warning says why.
    assert.deepEqual(logs.map((line) => [JSON.parse(line).level, JSON.parse(line).msg]), [["warn", "store not ready"]]);
  });
});

Deno.test("/readyz answers 503 NOT_READY before the schema is migrated", async () => {
  const { withTestSchema } = await import("../../support/database.ts");
  await withTestSchema(async (schema) => {
    const config = loadHandlerConfig(await testEnv(schema));
    const logger = createLogger({ isDebug: false, write: () => {} });
    const store = createPostgresStore({
      url: config.databaseUrl,
      schema,
      poolMax: 1,
      retentionDays: 0,
      connectTimeoutS: 5,
      logger,
    });
    try {
      const app = createApp({ config, store, logger });
      const before = await app.fetch(new Request("http://handler.test/readyz"));
      assert.equal(before.status, 503);
      await before.body?.cancel();
      await store.migrate();
      const after = await app.fetch(new Request("http://handler.test/readyz"));
      assert.equal(after.status, 200);
      await after.body?.cancel();
    } finally {
      await store.close();
    }
  });
});

Deno.test("POST /v1/events answers 500 INTERNAL_ERROR for a database error that is not transient, and logs it", async () => {
  await withApp(async (h) => {
    // A schema broken by hand: the insert fails with undefined_column, which no retry can fix.
    await h.sql.unsafe(`alter table "${h.schema}".k8s_events drop column message`);
    const response = await h.app.fetch(await eventsRequest(ndjson([eventRecord()])));
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), {
      type: "urn:events-ingester:problem:INTERNAL_ERROR",
      title: "Internal error",
      status: 500,
      code: "INTERNAL_ERROR",
      detail: "Cannot handle the request: an internal error occurred",
    });
    const logged = h.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === "request failed");
    assert.deepEqual(logged.map((line) => [line.level, line.status, line.code]), [["error", 500, "INTERNAL_ERROR"]]);
    const live = await h.app.fetch(new Request("http://handler.test/livez"));
    assert.equal(live.status, 200);
    await live.body?.cancel();
  });
});
