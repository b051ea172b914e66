import assert from "node:assert/strict";
import { startRetention } from "../../../../handler/store/schema/retention.ts";
import { createLogger } from "../../../../shared/telemetry/log.ts";

function recordingStore(fail = false) {
  const calls: string[] = [];
  const { promise: called, resolve } = Promise.withResolvers<void>();
  return {
    calls,
    called,
    dropExpiredPartitions(now: Date): Promise<string[]> {
      calls.push(now.toISOString());
      resolve();
      return fail ? Promise.reject(new Error("database away")) : Promise.resolve([]);
    },
  };
}

Deno.test("startRetention runs at once with the injected clock, then stops on abort", async () => {
  const store = recordingStore();
  const controller = new AbortController();
  startRetention({
    store,
    retentionDays: 7,
    logger: createLogger({ isDebug: false, write: () => {} }),
    signal: controller.signal,
    now: () => new Date("2026-11-25T10:00:00Z"),
  });
  await store.called;
  controller.abort();
  assert.deepEqual(store.calls, ["2026-11-25T10:00:00.000Z"]);
});

Deno.test("startRetention does nothing when RETENTION_DAYS is 0", () => {
  const store = recordingStore();
  startRetention({
    store,
    retentionDays: 0,
    logger: createLogger({ isDebug: false, write: () => {} }),
    signal: new AbortController().signal,
  });
  assert.deepEqual(store.calls, []);
});

Deno.test("startRetention logs a failed run as a warning and keeps the schedule", async () => {
  const store = recordingStore(true);
  const controller = new AbortController();
  const logged = Promise.withResolvers<string>();
  startRetention({
    store,
    retentionDays: 1,
    logger: createLogger({ isDebug: false, write: (line) => logged.resolve(line) }),
    signal: controller.signal,
  });
  const line = JSON.parse(await logged.promise);
  controller.abort();
  assert.deepEqual([line.level, line.msg, line.error], [
    "warn",
    "retention run failed; retrying at the next interval",
    "Error: database away",
  ]);
});
