import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { armShutdownDeadline, type LeaderTermOptions, runLeaderTerm } from "../../relay/leader_term.ts";
import { createRelayMetrics } from "../../relay/metrics.ts";
import { gunzipLines, type GzipBatch } from "../../relay/send/gzip_ndjson.ts";
import type { SendOutcome } from "../../relay/send/send_outcome.ts";
import { delay } from "../../shared/delay.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import { createFakeKube, type FakeKubeScript, toEvent } from "../support/fake_kube.ts";

const FENCE = { holder: "relay-0", transitions: 1 };
const STORED: SendOutcome = { status: "stored", response: { accepted: 1, duplicates: 0, rejected: [] } };

/** A handler client stand-in: the checkpoint `resumeVersion`, and `answer` for each batch; records what was sent. */
function fakeClient(resumeVersion: string | null, answer: (signal: AbortSignal) => Promise<SendOutcome>) {
  const sent: { records: number; resumeVersion: string | null; lines: string[] }[] = [];
  const client: LeaderTermOptions["client"] = {
    readCheckpoint: () => Promise.resolve({ cluster: "c1", resumeVersion, fence: null, updatedAt: null }),
    async sendBatch(batch, options) {
      const gzipBatch = batch as GzipBatch;
      sent.push({
        records: gzipBatch.records,
        resumeVersion: gzipBatch.resumeVersion,
        lines: await gunzipLines(gzipBatch.body),
      });
      return await answer(options.signal);
    },
  };
  return { client, sent };
}

/** Never answers; rejects with the signal's reason when it aborts, as the real client does. */
const hang = (signal: AbortSignal) =>
  new Promise<SendOutcome>((_, reject) =>
    signal.addEventListener("abort", () => reject(signal.reason), { once: true })
  );

function termOptions(script: FakeKubeScript, client: LeaderTermOptions["client"], logs: Record<string, unknown>[]) {
  const fake = createFakeKube(script);
  const options: LeaderTermOptions = {
    config: {
      queueBytesMax: 1024 * 1024,
      batchRecordsMax: 100,
      batchBytesMax: 1024 * 1024,
      flushIntervalMs: 5,
      namespaces: [],
      retryBackoffMaxMs: 50,
      watchIdleTimeoutS: 330,
      shutdownDeadlineS: 30,
      isStormControlEnabled: true,
    },
    cluster: "c1",
    kube: fake.kube,
    client,
    enrich: () => Promise.resolve(undefined),
    onActivity: () => {},
    metrics: createRelayMetrics(createNoopMeter()),
    logger: createLogger({ isDebug: true, write: (line) => logs.push(JSON.parse(line)) }),
    now: Date.now,
    delay,
  };
  return { options, fake };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await delay(2);
}

const LISTED = { lists: [[[toEvent("u1", "5"), toEvent("u2", "6")]]], listVersions: ["50"] };

Deno.test("runLeaderTerm sends what the watch lists with the list's resume point, and drains on shutdown", async () => {
  const logs: Record<string, unknown>[] = [];
  const { client, sent } = fakeClient(null, () => Promise.resolve(STORED));
  const { options, fake } = termOptions(LISTED, client, logs);
  const shutdown = new AbortController();
  const term = runLeaderTerm({ fence: FENCE, lostSignal: new AbortController().signal }, shutdown.signal, options);
  await fake.watchIdle(0);
  await until(() => sent.some((batch) => batch.resumeVersion === "50"));
  shutdown.abort();
  await term;
  assert.deepEqual(sent.flatMap((batch) => batch.lines.map((line) => JSON.parse(line).event.metadata.uid)), [
    "u1",
    "u2",
  ]);
  assert.equal(sent.at(-1)!.resumeVersion, "50");
  assert.deepEqual(fake.watchCalls.map((call) => call.resourceVersion), ["50"]);
  assert.ok(logs.some((line) => line.msg === "stopping the watch; sending what is queued"));
});

Deno.test("runLeaderTerm steps down when the handler fences it, and stops the watch", async () => {
  const logs: Record<string, unknown>[] = [];
  const { client, sent } = fakeClient(null, () => Promise.resolve({ status: "fenced" }));
  const { options } = termOptions(LISTED, client, logs);
  const shutdown = new AbortController();
  await runLeaderTerm({ fence: FENCE, lostSignal: new AbortController().signal }, shutdown.signal, options);
  assert.equal(shutdown.signal.aborted, false);
  assert.equal(sent.length, 1);
  assert.ok(logs.some((line) => line.msg === "watch loop ended"));
});

Deno.test("runLeaderTerm stops at once when leadership is lost, leaving the queue unsent", async () => {
  const logs: Record<string, unknown>[] = [];
  const { client, sent } = fakeClient(null, hang);
  const { options } = termOptions(LISTED, client, logs);
  const lost = new AbortController();
  const term = runLeaderTerm({ fence: FENCE, lostSignal: lost.signal }, new AbortController().signal, options);
  await until(() => sent.length === 1);
  lost.abort(new Error("Cannot renew the Lease: renew deadline passed"));
  await term;
  const stopped = logs.find((line) => line.msg === "stopped sending with events still queued");
  assert.equal(stopped?.reason, "Error: Cannot renew the Lease: renew deadline passed");
});

Deno.test("runLeaderTerm gives up sending SHUTDOWN_DEADLINE_S after shutdown when the handler does not answer", async () => {
  const logs: Record<string, unknown>[] = [];
  const { client, sent } = fakeClient(null, hang);
  const { options } = termOptions(LISTED, client, logs);
  options.config = { ...options.config, shutdownDeadlineS: 0.05 };
  const shutdown = new AbortController();
  const term = runLeaderTerm({ fence: FENCE, lostSignal: new AbortController().signal }, shutdown.signal, options);
  await until(() => sent.length === 1);
  const stoppedAtMs = Date.now();
  shutdown.abort();
  await term;
  const elapsedMs = Date.now() - stoppedAtMs;
  assert.ok(elapsedMs >= 45, `ended ${elapsedMs} ms after shutdown`);
  const stopped = logs.find((line) => line.msg === "stopped sending with events still queued");
  assert.equal(stopped?.reason, "Error: Cannot flush: SHUTDOWN_DEADLINE_S passed");
});

Deno.test("runLeaderTerm steps down when the watch fails for good", async () => {
  const logs: Record<string, unknown>[] = [];
  const { client } = fakeClient(null, () => Promise.resolve(STORED));
  client.readCheckpoint = () => Promise.reject(new Error("Cannot read the checkpoint: 404 NOT_FOUND"));
  const { options } = termOptions(LISTED, client, logs);
  await runLeaderTerm(
    { fence: FENCE, lostSignal: new AbortController().signal },
    new AbortController().signal,
    options,
  );
  const failed = logs.find((line) => line.msg === "watch loop failed");
  assert.equal(failed?.error, "Error: Cannot read the checkpoint: 404 NOT_FOUND");
});

Deno.test("armShutdownDeadline aborts its signal deadlineS after shutdown, and not before", async () => {
  const shutdown = new AbortController();
  let shutdowns = 0;
  const deadline = armShutdownDeadline(shutdown.signal, {
    deadlineS: 0.02,
    stepDownSignal: new AbortController().signal,
    onShutdown: () => shutdowns++,
  });
  await delay(40);
  assert.equal(deadline.signal.aborted, false);
  shutdown.abort();
  assert.equal(shutdowns, 1);
  await delay(5);
  assert.equal(deadline.signal.aborted, false);
  await until(() => deadline.signal.aborted);
  assert.equal((deadline.signal.reason as Error).message, "Cannot flush: SHUTDOWN_DEADLINE_S passed");
  deadline.dispose();
});

Deno.test("armShutdownDeadline arms at once when shutdown has already begun, and dispose ends it", () => {
  const shutdown = new AbortController();
  shutdown.abort();
  let shutdowns = 0;
  const deadline = armShutdownDeadline(shutdown.signal, {
    deadlineS: 3600,
    stepDownSignal: new AbortController().signal,
    onShutdown: () => shutdowns++,
  });
  assert.equal(shutdowns, 1);
  deadline.dispose();
  assert.equal(deadline.signal.aborted, true);
});
