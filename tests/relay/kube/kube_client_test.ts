import assert from "node:assert/strict";
import { startSimulator } from "../../../relay/simulator/simulator.ts";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { KubeApiError, type WatchEvent } from "../../../relay/kube/kube_api.ts";

async function withClient(
  fn: (
    kube: Awaited<ReturnType<typeof createKubeClient>>,
    simulator: Awaited<ReturnType<typeof startSimulator>>,
  ) => Promise<void>,
  options: Parameters<typeof startSimulator>[0] = {},
) {
  const simulator = await startSimulator(options);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kubeconfig`;
  await Deno.writeTextFile(path, simulator.kubeconfig());
  const kube = await createKubeClient({ connection: { mode: "kubeconfig", path } });
  try {
    await fn(kube, simulator);
  } finally {
    kube.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const pod = (name: string) => ({ apiVersion: "v1", kind: "Pod", name, namespace: "ns1" });

Deno.test("createKubeClient refuses a kubeconfig file that does not exist", async () => {
  await assert.rejects(
    () => createKubeClient({ connection: { mode: "kubeconfig", path: "/nonexistent/kubeconfig" } }),
    (error: unknown) => error instanceof Error && error.message.startsWith("Cannot load Kubernetes configuration: "),
  );
});

Deno.test("KubeApi.listEvents pages with limit and continue and returns one list resourceVersion", async () => {
  await withClient(async (kube, simulator) => {
    const created = [1, 2, 3, 4, 5].map((i) => simulator.createEvent({ involvedObject: pod(`p${i}`) }));
    const first = await kube.listEvents({ limit: 2 });
    assert.equal(first.items.length, 2);
    assert.notEqual(first.continueToken, null);
    const second = await kube.listEvents({ limit: 2, continueToken: first.continueToken! });
    const third = await kube.listEvents({ limit: 2, continueToken: second.continueToken! });
    assert.equal(third.continueToken, null);
    const uids = [...first.items, ...second.items, ...third.items].map((e) => (e.metadata as { uid: string }).uid);
    assert.deepEqual(uids.sort(), created.map((e) => e.metadata.uid!).sort());
    assert.equal(first.resourceVersion, simulator.resourceVersion);
  });
});

Deno.test("KubeApi.watchEvents yields ADDED, MODIFIED, DELETED from a resourceVersion", async () => {
  await withClient(async (kube, simulator) => {
    const start = simulator.resourceVersion;
    const controller = new AbortController();
    const seen: WatchEvent[] = [];
    const done = (async () => {
      for await (
        const n of kube.watchEvents({
          resourceVersion: start,
          timeoutS: 30,
          idleTimeoutMs: 10_000,
          signal: controller.signal,
        })
      ) {
        if (n.type !== "BOOKMARK") seen.push(n);
        if (seen.length === 3) break;
      }
    })();
    const event = simulator.createEvent({ involvedObject: pod("a"), metadata: { name: "e1", namespace: "ns1" } });
    simulator.updateEvent("ns1", "e1", (e) => (e.count = 2));
    simulator.deleteEvent("ns1", "e1");
    await done;
    controller.abort();
    assert.deepEqual(seen.map((n) => n.type), ["ADDED", "MODIFIED", "DELETED"]);
    assert.equal(
      (seen[0] as unknown as { object: { metadata: { uid: string } } }).object.metadata.uid,
      event.metadata.uid,
    );
  });
});

Deno.test("KubeApi.watchEvents throws KubeApiError 410 when the window has expired", async () => {
  await withClient(async (kube, simulator) => {
    simulator.createEvent({ involvedObject: pod("a") });
    const old = simulator.resourceVersion;
    simulator.createEvent({ involvedObject: pod("b") });
    simulator.expireWatchWindow();
    const iterate = async () => {
      for await (
        const _ of kube.watchEvents({
          resourceVersion: old,
          timeoutS: 5,
          idleTimeoutMs: 5_000,
          signal: new AbortController().signal,
        })
      ) {
        // drain
      }
    };
    await assert.rejects(iterate, (error: unknown) => error instanceof KubeApiError && error.status === 410);
  });
});

Deno.test("KubeApi resolves kinds through discovery and reads PartialObjectMetadata", async () => {
  await withClient(async (kube, simulator) => {
    simulator.putObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "ns1", labels: { app: "web" } },
    });
    const mapping = await kube.resolveResource({ apiVersion: "apps/v1", kind: "Deployment" });
    assert.deepEqual(mapping, { group: "apps", version: "v1", resource: "deployments", isNamespaced: true });
    const metadata = await kube.getObjectMetadata({ mapping: mapping!, namespace: "ns1", name: "web" });
    assert.deepEqual(metadata.labels, { app: "web" });
    assert.deepEqual(metadata.ownerReferences, []);
    assert.equal(await kube.resolveResource({ apiVersion: "apps/v1", kind: "Nope" }), undefined);
  });
});

Deno.test("KubeApi Leases: create, replace, and 409 on a stale resourceVersion", async () => {
  await withClient(async (kube) => {
    const base = {
      namespace: "default",
      name: "l1",
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: "2026-01-01T00:00:00.000000Z",
      renewTime: "2026-01-01T00:00:00.000000Z",
      leaseTransitions: 0,
    };
    assert.equal(await kube.getLease({ namespace: "default", name: "l1" }), undefined);
    const created = await kube.createLease(base);
    assert.equal(created.holderIdentity, "a");
    const replaced = await kube.replaceLease({ ...created, holderIdentity: "b", leaseTransitions: 1 });
    assert.equal(replaced.leaseTransitions, 1);
    await assert.rejects(
      kube.replaceLease({ ...created, holderIdentity: "c" }),
      (error: unknown) => error instanceof KubeApiError && error.status === 409,
    );
    const read = await kube.getLease({ namespace: "default", name: "l1" });
    assert.equal(read?.holderIdentity, "b");
  });
});

Deno.test("KubeApi.getNamespaceUid reads the kube-system uid", async () => {
  await withClient(async (kube) => {
    assert.equal(await kube.getNamespaceUid("kube-system"), "6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00");
  }, { clusterUid: "6f1c2e0a-3b1d-4c8e-9a57-0e2d4b9c1f00" });
});

Deno.test("KubeApi.watchEvents throws KubeApiError 410 when the server answers HTTP 410", async () => {
  await withClient(async (kube, simulator) => {
    simulator.createEvent({ involvedObject: pod("a") });
    const old = simulator.resourceVersion;
    simulator.createEvent({ involvedObject: pod("b") });
    simulator.expireWatchWindow();
    const iterate = async () => {
      for await (
        const _ of kube.watchEvents({
          resourceVersion: old,
          timeoutS: 5,
          idleTimeoutMs: 5_000,
          signal: new AbortController().signal,
        })
      ) {
        // drain
      }
    };
    await assert.rejects(iterate, (error: unknown) => error instanceof KubeApiError && error.status === 410);
  }, { watchGoneAnswer: "status" });
});
