/**
 * The test control plane is the real thing: the built release answers, controllers and the scheduler write real
 * Events, events expire after --event-ttl, RBAC refuses what it does not grant, compaction makes old resourceVersions
 * 410 Gone, and a test process that dies leaves no server behind.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import {
  type ControlPlane,
  controlPlaneTest,
  controlPlaneToolsTest,
  toControlPlaneTestMode,
  toFirstServiceIp,
  toKubeconfig,
} from "./control_plane.ts";
import { parseToolPaths, type ToolAvailability } from "./kube_tools.ts";

interface EventItem {
  reason: string;
  message?: string;
  type?: string;
  involvedObject: { kind: string; name: string };
  source?: { component?: string };
  reportingComponent?: string;
  metadata: { name: string; resourceVersion: string };
}

interface WatchLine {
  type: string;
  object: { code?: number; reason?: string; message?: string; metadata?: { name?: string } };
}

/** Polls `check` every 250 ms until it returns a value; fails after `timeoutMs` with `what` in the message. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Cannot see ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function listEvents(plane: ControlPlane, namespace: string): Promise<EventItem[]> {
  return (await plane.apiJson<{ items: EventItem[] }>(`/api/v1/namespaces/${namespace}/events`)).items;
}

async function createNamespace(plane: ControlPlane, namespace: string): Promise<void> {
  await plane.apiJson("/api/v1/namespaces", {
    method: "POST",
    body: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }),
  });
}

async function createEvent(plane: ControlPlane, namespace: string, name: string): Promise<EventItem> {
  return await plane.apiJson<EventItem>(`/api/v1/namespaces/${namespace}/events`, {
    method: "POST",
    body: JSON.stringify({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name },
      involvedObject: { apiVersion: "v1", kind: "Pod", namespace, name: "subject" },
      reason: "Tested",
      message: `event ${name}`,
      type: "Normal",
      source: { component: "control-plane-test" },
    }),
  });
}

/** Reads a watch until the server ends it (`timeoutSeconds`), one parsed object per line. */
async function readWatch(plane: ControlPlane, path: string): Promise<{ status: number; lines: WatchLine[] }> {
  const response = await plane.apiFetch(path);
  const text = await response.text();
  const lines = text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as WatchLine);
  return { status: response.status, lines };
}

const DEPLOYMENT = (namespace: string) =>
  JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", image: "registry.invalid/web:1" }] },
      },
    },
  });

controlPlaneTest(
  "control plane with controller-manager and scheduler: real version, real Events, RBAC enforced",
  { hasControllerManager: true, hasScheduler: true },
  async (plane, t) => {
    const release = plane.tools["kube-apiserver"].version;

    await t.step("kubectl version reports the built release for client and server", async () => {
      const versions = JSON.parse(await plane.kubectl(["version", "--output=json"])) as {
        clientVersion: { gitVersion: string };
        serverVersion: { gitVersion: string; major: string; minor: string; gitTreeState: string };
      };
      assert.match(release, /^v1\.\d+\.\d+$/);
      const [, minor] = /^v1\.(\d+)\./.exec(release)!;
      assert.equal(versions.serverVersion.gitVersion, release);
      assert.equal(versions.clientVersion.gitVersion, release);
      assert.equal(versions.serverVersion.major, "1");
      assert.equal(versions.serverVersion.minor, minor);
      assert.equal(versions.serverVersion.gitTreeState, "archive");
    });

    await t.step("a Deployment makes the deployment, replicaset and scheduler controllers write Events", async () => {
      await plane.kubectl(["create", "namespace", "shop"]);
      await plane.kubectl(["apply", "--filename=-"], { stdin: DEPLOYMENT("shop") });
      const wanted = ["ScalingReplicaSet", "SuccessfulCreate", "FailedScheduling"];
      const events = await eventually("the three Events of a new Deployment", 60_000, async () => {
        const items = await listEvents(plane, "shop");
        return wanted.every((reason) => items.some((item) => item.reason === reason)) ? items : undefined;
      });
      const byReason = (reason: string) => events.find((item) => item.reason === reason)!;
      const scaling = byReason("ScalingReplicaSet");
      assert.equal(scaling.involvedObject.kind, "Deployment");
      assert.equal(scaling.involvedObject.name, "web");
      assert.equal(scaling.source?.component, "deployment-controller");
      assert.match(scaling.message ?? "", /^Scaled up replica set web-[a-z0-9]+ from 0 to 1$/);
      const created = byReason("SuccessfulCreate");
      assert.equal(created.involvedObject.kind, "ReplicaSet");
      assert.match(created.involvedObject.name, /^web-[a-z0-9]+$/);
      assert.equal(created.source?.component, "replicaset-controller");
      const unscheduled = byReason("FailedScheduling");
      assert.equal(unscheduled.involvedObject.kind, "Pod");
      assert.equal(unscheduled.type, "Warning");
      assert.equal(unscheduled.reportingComponent, "default-scheduler");
      assert.equal(unscheduled.message, "no nodes available to schedule pods");
      const pods = await plane.apiJson<{ items: { status: { phase: string } }[] }>("/api/v1/namespaces/shop/pods");
      assert.deepEqual(pods.items.map((pod) => pod.status.phase), ["Pending"]);
    });

    await t.step(
      "a fresh ServiceAccount token is refused events until a Role grants them, in that namespace",
      async () => {
        const token = await plane.createServiceAccountToken("shop", "reader");
        const refused = await plane.apiFetch("/api/v1/namespaces/shop/events", { token });
        const status = await refused.json() as { reason: string; message: string };
        assert.equal(refused.status, 403);
        assert.equal(status.reason, "Forbidden");
        assert.equal(
          status.message,
          'events is forbidden: User "system:serviceaccount:shop:reader" cannot list resource "events" in API group "" ' +
            'in the namespace "shop"',
        );
        await plane.kubectl(["create", "role", "event-reader", "--namespace=shop", "--verb=list", "--resource=events"]);
        await plane.kubectl([
          "create",
          "rolebinding",
          "event-reader",
          "--namespace=shop",
          "--role=event-reader",
          "--serviceaccount=shop:reader",
        ]);
        const items = await eventually("the Role take effect", 10_000, async () => {
          const response = await plane.apiFetch("/api/v1/namespaces/shop/events", { token });
          const body = await response.json() as { items?: EventItem[] };
          return response.status === 200 ? body.items : undefined;
        });
        assert.ok(items.some((item) => item.reason === "ScalingReplicaSet"));
        const elsewhere = await plane.apiFetch("/api/v1/namespaces/default/events", { token });
        await elsewhere.body?.cancel();
        assert.equal(elsewhere.status, 403);
        const watch = await plane.apiFetch("/api/v1/namespaces/shop/events?watch=1", { token });
        await watch.body?.cancel();
        assert.equal(watch.status, 403, "the Role grants list, not watch");
      },
    );
  },
);

const EVENT_TTL_S = 5;

controlPlaneTest(
  "control plane without controllers: Events expire after --event-ttl, compaction answers 410 Gone",
  { eventTtlS: EVENT_TTL_S },
  async (plane, t) => {
    await t.step(`an Event created through the API is gone ${EVENT_TTL_S} s later, not before`, async () => {
      await createNamespace(plane, "ttl");
      const createdAt = Date.now();
      await createEvent(plane, "ttl", "short-lived");
      const path = "/api/v1/namespaces/ttl/events/short-lived";
      const present = await plane.apiFetch(path);
      await present.body?.cancel();
      assert.equal(present.status, 200);
      const goneAfterMs = await eventually("the Event expire", EVENT_TTL_S * 1000 + 15_000, async () => {
        const response = await plane.apiFetch(path);
        await response.body?.cancel();
        return response.status === 404 ? Date.now() - createdAt : undefined;
      });
      assert.ok(goneAfterMs >= EVENT_TTL_S * 1000, `gone after ${goneAfterMs} ms, before the TTL`);
    });

    await t.step(
      "after compaction a watch and an exact list from an older resourceVersion get 410 Expired",
      async () => {
        await createNamespace(plane, "compacted");
        const first = await createEvent(plane, "compacted", "first");
        await createEvent(plane, "compacted", "second");
        const third = await createEvent(plane, "compacted", "third");
        const from = first.metadata.resourceVersion;
        const watchPath = `/api/v1/namespaces/compacted/events?watch=1&resourceVersion=${from}&timeoutSeconds=1`;

        const before = await readWatch(plane, watchPath);
        assert.equal(before.status, 200);
        assert.deepEqual(before.lines.map((line) => [line.type, line.object.metadata?.name]), [
          ["ADDED", "second"],
          ["ADDED", "third"],
        ]);

        const revision = await plane.compactEtcd();
        // etcd keeps the compaction revision itself: a watch from `from` resumes at from + 1 (second), now compacted.
        assert.ok(revision >= Number(third.metadata.resourceVersion), `compacted at ${revision}`);
        const after = await readWatch(plane, watchPath);
        assert.equal(after.status, 200);
        assert.deepEqual(after.lines.map((line) => [line.type, line.object.code, line.object.reason]), [
          ["ERROR", 410, "Expired"],
        ]);
        assert.equal(after.lines[0]!.object.message, "The resourceVersion for the provided watch is too old.");

        const list = await plane.apiFetch(
          `/api/v1/namespaces/compacted/events?resourceVersion=${from}&resourceVersionMatch=Exact`,
        );
        const status = await list.json() as { reason: string; message: string };
        assert.equal(list.status, 410);
        assert.equal(status.reason, "Expired");
        assert.equal(status.message, "The resourceVersion for the provided list is too old.");
      },
    );

    // Last, so that stop() follows within undici's 4 s keep-alive: the connection is still open when the server goes.
    await t.step(
      "@kubernetes/client-node lists Events with the admin kubeconfig, and the process survives stop()",
      async () => {
        const config = new KubeConfig();
        config.loadFromFile(plane.kubeconfigPath);
        const events = await config.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: "compacted" });
        assert.deepEqual(events.items.map((event) => event.metadata?.name).sort(), ["first", "second", "third"]);
      },
    );
  },
);

controlPlaneToolsTest(
  "control plane processes die with a test process that is killed without stopping them",
  async () => {
    const moduleUrl = new URL("./control_plane.ts", import.meta.url).href;
    const script = `import { startControlPlane } from ${JSON.stringify(moduleUrl)};
      const plane = await startControlPlane({ isBuildAllowed: false });
      console.log(plane.dir);
      await new Promise(() => {});`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    while (!output.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
    const dir = output.trim();
    // A start that retried on a port taken meanwhile also lists the pid that exited.
    const pids = (await Deno.readTextFile(`${dir}/pids`)).trim().split("\n").map(Number).filter(isAlive);
    assert.equal(pids.length, 2, "etcd and kube-apiserver");

    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    const alive = await eventually("etcd and kube-apiserver killed and the folder removed", 15_000, async () => {
      const isDirGone = await Deno.stat(dir).then(() => false, () => true);
      return isDirGone && !pids.some(isAlive) ? [] : undefined;
    });
    assert.deepEqual(alive, []);
  },
);

/** Whether a pid is a process that has not exited (a zombie waiting for its parent counts as exited). */
function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

const TOOLS_TEXT = [
  "kube-apiserver v1.36.3 /cache/kubernetes-v1.36.3/kube-apiserver",
  "kube-controller-manager v1.36.3 /cache/kubernetes-v1.36.3/kube-controller-manager",
  "kube-scheduler v1.36.3 /cache/kubernetes-v1.36.3/kube-scheduler",
  "kubectl v1.36.3 /cache/kubernetes-v1.36.3/kubectl",
  "etcd v3.6.17 /cache/etcd-v3.6.17/etcd",
  "helm v4.3.2 /cache/helm-v4.3.2/helm",
].join("\n");

Deno.test("parseToolPaths reads every binary's version and path, and refuses a missing binary", () => {
  const tools = parseToolPaths(TOOLS_TEXT);
  assert.deepEqual(tools.etcd, { version: "v3.6.17", path: "/cache/etcd-v3.6.17/etcd" });
  assert.deepEqual(tools.kubectl, { version: "v1.36.3", path: "/cache/kubernetes-v1.36.3/kubectl" });
  assert.throws(
    () => parseToolPaths(TOOLS_TEXT.split("\n").slice(0, 5).join("\n")),
    new SyntaxError("Cannot find helm in build_tools.sh --paths output"),
  );
});

Deno.test("toControlPlaneTestMode skips without binaries and Go, except in CI where the test fails", () => {
  const tools = parseToolPaths(TOOLS_TEXT);
  const missing: ToolAvailability = { state: "missing", tools, missing: ["etcd"], message: "Go is not on PATH" };
  assert.deepEqual(toControlPlaneTestMode(missing, false), {
    ignore: true,
    message: "control plane tests skipped: Go is not on PATH",
  });
  assert.deepEqual(toControlPlaneTestMode(missing, true), {
    ignore: false,
    failure: "Cannot run control plane tests with CI=true: Go is not on PATH",
  });
  assert.deepEqual(toControlPlaneTestMode({ state: "buildable", tools, missing: ["etcd"] }, false), { ignore: false });
  assert.deepEqual(toControlPlaneTestMode({ state: "cached", tools }, true), { ignore: false });
});

Deno.test("toFirstServiceIp is the first address of the range, the kubernetes Service's ClusterIP", () => {
  assert.equal(toFirstServiceIp("10.0.0.0/24"), "10.0.0.1");
  assert.equal(toFirstServiceIp("10.96.0.0/12"), "10.96.0.1");
  assert.equal(toFirstServiceIp("172.20.7.9/16"), "172.20.0.1");
  assert.throws(
    () => toFirstServiceIp("fd00::/108"),
    new RangeError('Cannot use service range "fd00::/108": expected an IPv4 CIDR with /8 to /30'),
  );
});

Deno.test("toKubeconfig embeds the CA and the token under one current context", () => {
  const config = JSON.parse(toKubeconfig({ url: "https://127.0.0.1:6443", caPem: "PEM", user: "u", token: "t" }));
  assert.equal(config["current-context"], "events-ingester-test");
  assert.deepEqual(config.clusters[0].cluster, {
    server: "https://127.0.0.1:6443",
    "certificate-authority-data": "UEVN",
  });
  assert.deepEqual(config.users[0], { name: "u", user: { token: "t" } });
});
