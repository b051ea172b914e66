import assert from "node:assert/strict";
import { createNoopMeter } from "@opentelemetry/api";
import { createApp } from "../../../handler/http/app.ts";
import { loadHandlerConfig } from "../../../handler/config.ts";
import { toTokenHashHex } from "../../../handler/http/token_hashes.ts";
import { loadRelayConfig } from "../../../relay/config.ts";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { createRelayMetrics } from "../../../relay/metrics.ts";
import { createRelay, type Relay } from "../../../relay/relay.ts";
import { createTokenReader, type TokenReader } from "../../../relay/send/token_reader.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import {
  assertAllStored,
  CLUSTER,
  type Pipeline,
  sortVersions,
  TOKEN,
  waitUntil,
  withPipeline,
} from "../../support/pipeline.ts";

/** An in-process relay with its own token reader (the pipeline's relays use a fixed token). */
async function withRelay(
  pipeline: Pipeline,
  options: { env?: Record<string, string>; readToken: TokenReader },
  fn: (relay: Relay, logs: string[]) => Promise<void>,
): Promise<void> {
  const config = loadRelayConfig(pipeline.relayEnv("relay-a", options.env));
  const logs: string[] = [];
  const kube = await createKubeClient({ connection: config.kube });
  const relay = createRelay({
    config,
    cluster: CLUSTER,
    kube,
    readToken: options.readToken,
    logger: createLogger({ isDebug: true, write: (line) => logs.push(line) }),
    metrics: createRelayMetrics(createNoopMeter()),
  });
  const controller = new AbortController();
  const running = relay.run(controller.signal).finally(() => kube.close());
  try {
    await fn(relay, logs);
  } finally {
    controller.abort();
    await running;
  }
}

/** The real handler app with `limits` (handler env names), on its own socket, writing to the pipeline's store. */
async function withSmallHandler(
  pipeline: Pipeline,
  limits: Record<string, string>,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const config = loadHandlerConfig({
    DATABASE_URL: Deno.env.get("TEST_DATABASE_URL"),
    DB_SCHEMA: pipeline.schema,
    RETENTION_DAYS: "0",
    CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await toTokenHashHex(TOKEN)}`,
    ...limits,
  });
  const app = createApp({
    config,
    store: pipeline.store,
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (r) => app.fetch(r));
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

Deno.test("a wrong token keeps the batches and the relay not ready; after the token file is fixed all is stored", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const dir = await Deno.makeTempDir({ prefix: "relay-token-" });
    const file = `${dir}/token`;
    try {
      await Deno.writeTextFile(file, "not-the-token\n");
      await simulator.burst({ count: 300, namespace: "a" });
      await withRelay(
        pipeline,
        { env: { HANDLER_TOKEN: "", HANDLER_TOKEN_FILE: file }, readToken: createTokenReader({ file }) },
        async (relay, logs) => {
          await waitUntil(
            "the relay was refused three times",
            () => logs.filter((l) => l.includes('"reason":"401"')).length >= 3,
          );
          assert.deepEqual(relay.health.readiness(), {
            isReady: false,
            reason: "the handler refuses the token (401 INVALID_TOKEN); retrying",
          });
          await simulator.burst({ count: 200, namespace: "b" });
          assert.equal((await pipeline.storedVersions()).length, 0);
          assert.equal(await pipeline.checkpoint(), null);
          await Deno.writeTextFile(file, `${TOKEN}\n`);
          await assertAllStored(pipeline);
          await waitUntil("the relay is ready", () => relay.health.readiness().isReady);
          assert.equal(logs.some((l) => l.includes("lines are dropped")), false);
          assert.deepEqual(await pipeline.gaps(), []);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("a handler with small RECORDS_MAX and BODY_BYTES_MAX gets everything through splitting", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 600, namespace: "a" });
    await withSmallHandler(pipeline, { RECORDS_MAX: "40", BODY_BYTES_MAX: "6000" }, async (url) => {
      await withRelay(
        pipeline,
        { env: { HANDLER_URL: url }, readToken: () => Promise.resolve(TOKEN) },
        async (_relay, logs) => {
          await assertAllStored(pipeline);
          await simulator.burst({ count: 300, namespace: "b" });
          await assertAllStored(pipeline);
          const splits = logs.filter((l) => l.includes("sending it in halves"));
          assert.ok(splits.some((l) => l.includes('"code":"TOO_MANY_RECORDS"')), "no split for TOO_MANY_RECORDS");
          assert.equal(logs.some((l) => l.includes("dropped")), false);
        },
      );
    });
  });
});

Deno.test("a single record the handler refuses as too large is dropped and logged; the rest is stored", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    await simulator.burst({ count: 100, namespace: "a" });
    const noise = Array.from(crypto.getRandomValues(new Uint8Array(9_000)), (b) => b.toString(36)).join("");
    const huge = simulator.createEvent({
      involvedObject: { apiVersion: "v1", kind: "Pod", name: "huge", namespace: "a" },
      message: noise,
    });
    await simulator.burst({ count: 100, namespace: "b" });
    await withSmallHandler(pipeline, { BODY_BYTES_MAX: "8000" }, async (url) => {
      await withRelay(
        pipeline,
        { env: { HANDLER_URL: url }, readToken: () => Promise.resolve(TOKEN) },
        async (_relay, logs) => {
          const expected = sortVersions(simulator.emittedVersions().filter((v) => v.uid !== huge.metadata.uid));
          await waitUntil("200 versions are stored", async () => (await pipeline.storedVersions()).length >= 200);
          await waitUntil("the record is dropped", () => logs.some((l) => l.includes("refused a single record")));
          assert.deepEqual(await pipeline.storedVersions(), expected);
          const dropped = logs.filter((l) => l.includes("refused a single record")).map((l) => JSON.parse(l));
          assert.deepEqual(dropped.map((d) => [d.status, d.code]), [[413, "BODY_TOO_LARGE"]]);
        },
      );
    });
  });
});
