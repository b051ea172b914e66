import assert from "node:assert/strict";
import { CoreV1Api } from "@kubernetes/client-node";
import { startSimulator } from "../../../../relay/simulator/simulator.ts";
import { recordWatch, toKubeConfig, withSimulator } from "../kube_client_support.ts";

Deno.test("podLifecycle writes 1 + 6 × replicas events about the deployment, replicaset and pods", async () => {
  await withSimulator(async (simulator) => {
    const events = await simulator.podLifecycle({ namespace: "shop", deployment: "web", replicas: 2 });
    assert.equal(events.length, 13);
    const reasons = events.map((e) => `${e.involvedObject.kind}:${e.reason}`);
    assert.deepEqual(reasons.slice(0, 7), [
      "Deployment:ScalingReplicaSet",
      "ReplicaSet:SuccessfulCreate",
      "Pod:Scheduled",
      "Pod:Pulling",
      "Pod:Pulled",
      "Pod:Created",
      "Pod:Started",
    ]);
    const scheduled = events[2]!;
    assert.deepEqual([scheduled.firstTimestamp, scheduled.lastTimestamp, scheduled.action], [null, null, "Binding"]);
    assert.match(scheduled.eventTime ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const pods = await toKubeConfig(simulator).makeApiClient(CoreV1Api).listNamespacedPod({ namespace: "shop" });
    const podUids = new Set(pods.items.map((p) => p.metadata?.uid));
    assert.equal(podUids.size, 2);
    assert.ok(events.filter((e) => e.involvedObject.kind === "Pod").every((e) => podUids.has(e.involvedObject.uid)));
  });
});

Deno.test("crashLoopStorm bumps one event's count with MODIFIED versions a watch sees in order", async () => {
  await withSimulator(async (simulator) => {
    const watch = await recordWatch(simulator, "/api/v1/namespaces/shop/events", {
      resourceVersion: simulator.resourceVersion,
    });
    const versions = await simulator.crashLoopStorm({ namespace: "shop", pod: "worker-0", modifications: 500 });
    assert.equal(versions.length, 501);
    assert.deepEqual(versions.map((v) => v.count), Array.from({ length: 501 }, (_, i) => i + 1));
    assert.equal(new Set(versions.map((v) => v.metadata.uid)).size, 1);
    await watch.waitForCount(501);
    assert.deepEqual(watch.events.map((e) => e.type), ["ADDED", ...Array(500).fill("MODIFIED")]);
    assert.deepEqual(
      watch.events.map((e) => e.object.metadata?.resourceVersion),
      versions.map((v) => v.metadata.resourceVersion),
    );
    assert.deepEqual(
      simulator.emittedVersions(),
      versions.map((v) => ({ uid: v.metadata.uid, resourceVersion: v.metadata.resourceVersion })),
    );
    watch.abort();
  });
});

Deno.test("eventStorm bumps many events round-robin at the given rate for the given time", async () => {
  await withSimulator(async (simulator) => {
    const watch = await recordWatch(simulator, "/api/v1/namespaces/storm/events", {
      resourceVersion: simulator.resourceVersion,
    });
    const startedAt = performance.now();
    const storm = await simulator.eventStorm({
      namespace: "storm",
      deployment: "web",
      events: 5,
      bumpsPerSecond: 1_000,
      durationMs: 300,
      probeOutputBytes: 1_000,
    });
    const elapsedMs = performance.now() - startedAt;
    assert.equal(storm.events.length, 5);
    assert.deepEqual(storm.events.map((e) => e.involvedObject.name), ["web-0", "web-1", "web-2", "web-3", "web-4"]);
    assert.equal(new Set(storm.events.map((e) => e.metadata.uid)).size, 5);
    assert.deepEqual(new Set(storm.events.map((e) => `${e.type} ${e.reason}`)), new Set(["Warning Unhealthy"]));
    assert.deepEqual(
      storm.events.map((e) => e.message?.length),
      Array(5).fill("Liveness probe failed: ".length + 1_000),
    );
    // Every version bumps one count by one, round-robin: the counts add up to the versions and differ by one at most.
    const counts = storm.events.map((e) => e.count ?? 0);
    assert.equal(counts.reduce((a, b) => a + b), storm.versions);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, counts.join(","));
    assert.equal(simulator.emittedVersions().length, storm.versions);
    // Paced at 1,000 a second for 300 ms: never more than 300 bumps; the last 10 ms step may fall anywhere before.
    const bumps = storm.versions - 5;
    assert.ok(bumps <= 300 && bumps >= 200, `${bumps} bumps`);
    assert.ok(elapsedMs >= 300 && elapsedMs < 2_000, `took ${elapsedMs} ms`);
    await watch.waitForCount(storm.versions);
    assert.deepEqual(
      watch.events.map((e) => e.type),
      [...Array(5).fill("ADDED"), ...Array(bumps).fill("MODIFIED")],
    );
    watch.abort();
  });
});

Deno.test("eventStorm does not make up a stall of its process with one huge write", async () => {
  await withSimulator(async (simulator) => {
    const storming = simulator.eventStorm({
      namespace: "storm",
      deployment: "web",
      events: 3,
      bumpsPerSecond: 1_000,
      durationMs: 500,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const blockedUntil = performance.now() + 300;
    while (performance.now() < blockedUntil) {
      // Holds the thread as a loaded machine would: the storm's next step comes 300 ms late.
    }
    const storm = await storming;
    // 500 ms at 1,000 a second, less the 300 ms stall, plus at most STORM_CATCH_UP_MS (50 ms) caught up after it.
    const bumps = storm.versions - 3;
    assert.ok(bumps <= 500 - 300 + 50 + 1, `${bumps} bumps`);
  });
});

Deno.test("eventStorm refuses a non-positive size or rate with RangeError", async () => {
  await withSimulator(async (simulator) => {
    await assert.rejects(
      simulator.eventStorm({ namespace: "s", deployment: "d", events: 0, bumpsPerSecond: 1, durationMs: 1 }),
      { name: "RangeError", message: "Cannot run an event storm: events 0, bumpsPerSecond 1, durationMs 1" },
    );
    await assert.rejects(
      simulator.eventStorm({ namespace: "s", deployment: "d", events: 1, bumpsPerSecond: 0, durationMs: 1 }),
      RangeError,
    );
  });
});

Deno.test("burst without a pace writes thousands of events at once", async () => {
  await withSimulator(async (simulator) => {
    const startedAt = performance.now();
    const events = await simulator.burst({ count: 5_000, namespace: "load" });
    const elapsedMs = performance.now() - startedAt;
    assert.equal(events.length, 5_000);
    assert.equal(new Set(events.map((e) => e.metadata.uid)).size, 5_000);
    assert.equal(simulator.emittedVersions().length, 5_000);
    console.log(`burst: 5,000 events in ${elapsedMs.toFixed(0)} ms (${(5_000_000 / elapsedMs).toFixed(0)} events/s)`);
    assert.ok(elapsedMs < 5_000, `took ${elapsedMs} ms`);
  });
});

Deno.test("burst with perSecond paces the events on the wall clock", async () => {
  await withSimulator(async (simulator) => {
    const startedAt = performance.now();
    const events = await simulator.burst({ count: 100, perSecond: 400 });
    const elapsedMs = performance.now() - startedAt;
    assert.equal(events.length, 100);
    assert.deepEqual([...new Set(events.map((e) => e.metadata.namespace))], ["default"]);
    assert.ok(elapsedMs >= 230 && elapsedMs < 1_500, `took ${elapsedMs} ms`);
  });
});

Deno.test("a relay-style paged list then watch from the list version sees every emitted version once", async () => {
  await withSimulator(async (simulator) => {
    await simulator.burst({ count: 1_200, namespace: "load" });
    const api = toKubeConfig(simulator).makeApiClient(CoreV1Api);
    const seen: string[] = [];
    let token: string | undefined;
    let listVersion = "";
    do {
      const page = await api.listEventForAllNamespaces({ limit: 500, _continue: token });
      seen.push(...page.items.map((e) => `${e.metadata.uid}@${e.metadata.resourceVersion}`));
      listVersion = page.metadata?.resourceVersion ?? "";
      token = page.metadata?._continue;
      if (token) await simulator.crashLoopStorm({ namespace: "shop", pod: "p", modifications: 3 });
    } while (token);
    const watch = await recordWatch(simulator, "/api/v1/events", {
      resourceVersion: listVersion,
      allowWatchBookmarks: true,
    });
    await watch.waitForCount(8);
    seen.push(
      ...watch.events.filter((e) => e.type !== "BOOKMARK").map((e) =>
        `${e.object.metadata?.uid}@${e.object.metadata?.resourceVersion}`
      ),
    );
    watch.abort();
    const emitted = simulator.emittedVersions().map((v) => `${v.uid}@${v.resourceVersion}`);
    assert.deepEqual([...seen].sort(), [...emitted].sort());
    assert.equal(seen.length, 1_208);
  });
});

Deno.test("burst stops early and returns what it wrote when the simulator closes", async () => {
  const simulator = await startSimulator();
  const running = simulator.burst({ count: 1_000, perSecond: 100 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await simulator.close();
  const events = await running;
  assert.ok(events.length > 0 && events.length < 100, `wrote ${events.length}`);
  assert.equal(simulator.emittedVersions().length, events.length);
});
