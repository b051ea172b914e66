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
