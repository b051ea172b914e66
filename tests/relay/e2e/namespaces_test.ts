import assert from "node:assert/strict";
import { sortVersions, waitUntil, withPipeline } from "../../support/pipeline.ts";

Deno.test("NAMESPACES with one namespace lists and watches only that namespace's endpoints", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const kept = await simulator.burst({ count: 30, namespace: "team-a" });
    await simulator.burst({ count: 30, namespace: "team-b" });
    await pipeline.startRelay("relay-a", { NAMESPACES: "team-a" });
    const more = await simulator.burst({ count: 20, namespace: "team-a" });
    await simulator.burst({ count: 20, namespace: "team-b" });
    const expected = sortVersions(
      [...kept, ...more].map((e) => ({ uid: e.metadata.uid!, resourceVersion: e.metadata.resourceVersion! })),
    );
    await waitUntil("team-a's events are stored", async () => (await pipeline.storedVersions()).length >= 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await pipeline.storedVersions(), expected);
    const eventPaths = simulator.requestLog.filter((r) => r.path.includes("/events?")).map((r) => r.path);
    assert.ok(eventPaths.every((p) => p.startsWith("/api/v1/namespaces/team-a/events?")), eventPaths.join("\n"));
  });
});

Deno.test("NAMESPACES with several namespaces keeps only their events from the cluster-wide watch", async () => {
  await withPipeline(async (pipeline) => {
    const { simulator } = pipeline;
    const a = await simulator.burst({ count: 30, namespace: "team-a" });
    const b = await simulator.burst({ count: 30, namespace: "team-b" });
    await simulator.burst({ count: 30, namespace: "team-c" });
    await pipeline.startRelay("relay-a", { NAMESPACES: "team-a,team-b" });
    const b2 = await simulator.burst({ count: 20, namespace: "team-b" });
    await simulator.burst({ count: 20, namespace: "team-c" });
    const expected = sortVersions(
      [...a, ...b, ...b2].map((e) => ({ uid: e.metadata.uid!, resourceVersion: e.metadata.resourceVersion! })),
    );
    await waitUntil(
      "team-a's and team-b's events are stored",
      async () => (await pipeline.storedVersions()).length >= 80,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await pipeline.storedVersions(), expected);
  });
});
