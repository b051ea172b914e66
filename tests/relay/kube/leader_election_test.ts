import assert from "node:assert/strict";
import { createKubeClient } from "../../../relay/kube/kube_client.ts";
import { KubeApiError } from "../../../relay/kube/kube_api.ts";
import { LeaderElector, type Leadership } from "../../../relay/kube/leader_election.ts";
import { startSimulator } from "../../../relay/simulator/simulator.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

const TIMING = { leaseDurationS: 1, renewDeadlineS: 0.6, retryPeriodS: 0.1 };

async function withKube(fn: (kube: Awaited<ReturnType<typeof createKubeClient>>) => Promise<void>) {
  const simulator = await startSimulator();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
  const kube = await createKubeClient({ connection: { mode: "kubeconfig", path: `${dir}/kubeconfig` } });
  try {
    await fn(kube);
  } finally {
    kube.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function elector(kube: ConstructorParameters<typeof LeaderElector>[0]["kube"], identity: string) {
  return new LeaderElector({
    kube,
    namespace: "default",
    name: "lock",
    identity,
    ...TIMING,
    logger: createLogger({ isDebug: false, write: () => {} }),
  });
}

/** Runs an elector whose leader work records its leadership and waits until told to stop or leadership is lost. */
function campaign(candidate: LeaderElector) {
  const shutdown = new AbortController();
  const leaderships: Leadership[] = [];
  const lost: number[] = [];
  const finished = candidate.run({
    signal: shutdown.signal,
    lead: async (leadership) => {
      leaderships.push(leadership);
      await new Promise<void>((resolve) => {
        const end = () => resolve();
        shutdown.signal.addEventListener("abort", end, { once: true });
        leadership.lostSignal.addEventListener("abort", () => {
          lost.push(Date.now());
          end();
        }, { once: true });
      });
    },
  });
  return { shutdown, leaderships, lost, finished };
}

async function waitUntil(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("LeaderElector: the first candidate creates the Lease and leads; the second stays standby", async () => {
  await withKube(async (kube) => {
    const a = campaign(elector(kube, "a"));
    await waitUntil(() => a.leaderships.length === 1);
    const b = campaign(elector(kube, "b"));
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // longer than the lease: a keeps renewing
    assert.deepEqual(a.leaderships.map((l) => l.fence), [{ holder: "a", transitions: 0 }]);
    assert.equal(b.leaderships.length, 0);
    b.shutdown.abort();
    a.shutdown.abort();
    await Promise.all([a.finished, b.finished]);
  });
});

Deno.test("LeaderElector: a graceful shutdown releases the Lease and the standby takes over at once", async () => {
  await withKube(async (kube) => {
    const a = campaign(elector(kube, "a"));
    await waitUntil(() => a.leaderships.length === 1);
    const b = campaign(elector(kube, "b"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.shutdown.abort();
    await a.finished;
    const releasedAtMs = Date.now();
    const lease = await kube.getLease({ namespace: "default", name: "lock" });
    assert.deepEqual([lease?.holderIdentity, lease?.leaseTransitions], [null, 0]);
    await waitUntil(() => b.leaderships.length === 1);
    assert.ok(Date.now() - releasedAtMs < 500, "takeover after a release must not wait for expiry");
    assert.deepEqual(b.leaderships[0]!.fence, { holder: "b", transitions: 1 });
    b.shutdown.abort();
    await b.finished;
  });
});

Deno.test("LeaderElector: a leader that cannot renew loses leadership; the standby takes over after the lease", async () => {
  await withKube(async (kube) => {
    let isPartitioned = false;
    const partitionable = {
      getLease: (o: Parameters<typeof kube.getLease>[0]) =>
        isPartitioned
          ? Promise.reject(new KubeApiError("partitioned", { status: 0, reason: "Unreachable" }))
          : kube.getLease(o),
      createLease: kube.createLease.bind(kube),
      replaceLease: kube.replaceLease.bind(kube),
    };
    const a = campaign(elector(partitionable, "a"));
    await waitUntil(() => a.leaderships.length === 1);
    const b = campaign(elector(kube, "b"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const partitionedAtMs = Date.now();
    isPartitioned = true;
    await waitUntil(() => a.lost.length === 1);
    assert.ok(a.lost[0]! - partitionedAtMs < 1_000, `lost after ${a.lost[0]! - partitionedAtMs} ms`);
    await waitUntil(() => b.leaderships.length === 1);
    const takeoverMs = Date.now() - partitionedAtMs;
    assert.ok(takeoverMs < 1_000 + 500, `takeover after ${takeoverMs} ms with a 1 s lease`);
    assert.deepEqual(b.leaderships[0]!.fence, { holder: "b", transitions: 1 });
    a.shutdown.abort();
    b.shutdown.abort();
    await Promise.all([a.finished, b.finished]);
  });
});

Deno.test("LeaderElector: a refused Lease update is its refusal, logged once as an error, cleared when allowed", async () => {
  await withKube(async (kube) => {
    let isRefused = true;
    const forbidden = new KubeApiError("Cannot PUT lease: 403 forbidden", { status: 403, reason: "Forbidden" });
    const rbac = {
      getLease: kube.getLease.bind(kube),
      createLease: kube.createLease.bind(kube),
      replaceLease: (lease: Parameters<typeof kube.replaceLease>[0], signal?: AbortSignal) =>
        isRefused ? Promise.reject(forbidden) : kube.replaceLease(lease, signal),
    };
    const lines: string[] = [];
    const candidate = new LeaderElector({
      kube: rbac,
      namespace: "default",
      name: "lock",
      identity: "a",
      ...TIMING,
      logger: createLogger({ isDebug: false, write: (line) => lines.push(line) }),
    });
    assert.equal(candidate.refusal, undefined);
    const a = campaign(candidate);
    await waitUntil(() => a.lost.length === 1); // created the Lease, then could not renew it
    await new Promise((resolve) => setTimeout(resolve, 300)); // several more refused attempts
    assert.equal(candidate.refusal, "Cannot PUT lease: 403 forbidden");
    const errors = lines.map((line) => JSON.parse(line)).filter((line) => line.level === "error");
    assert.deepEqual(errors.map((line) => [line.msg, line.error]), [[
      "Cannot take part in leader election: the API server refuses a Lease request",
      "KubeApiError: Cannot PUT lease: 403 forbidden",
    ]]);
    isRefused = false;
    await waitUntil(() => a.leaderships.length === 2);
    assert.equal(candidate.refusal, undefined);
    a.shutdown.abort();
    await a.finished;
  });
});
