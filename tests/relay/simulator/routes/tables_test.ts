import assert from "node:assert/strict";
import { withSimulator as withSupportSimulator } from "../kube_client_support.ts";
import { type Simulator } from "../../../../relay/simulator/simulator.ts";
import {
  OBJECT_COLUMNS,
  toHumanDuration,
  toObjectRepresentation,
  toObjectRow,
} from "../../../../relay/simulator/routes/tables.ts";

const NOW_MS = Date.parse("2026-03-01T12:00:00Z");
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io";

function withSimulator(fn: (simulator: Simulator) => Promise<void>): Promise<void> {
  return withSupportSimulator(fn, { now: () => NOW_MS });
}

function addEvents(simulator: Simulator) {
  simulator.createEvent({
    metadata: { name: "web-0.1", namespace: "shop" },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: "web-0",
      namespace: "shop",
      fieldPath: "spec.containers{app}",
    },
    reason: "BackOff",
    type: "Warning",
    message: "Back-off restarting failed container app",
    count: 4,
    firstTimestamp: "2026-03-01T11:00:00Z",
    lastTimestamp: "2026-03-01T11:57:30Z",
    source: { component: "kubelet", host: "node-1" },
  });
  simulator.createEvent({
    metadata: { name: "web.2", namespace: "ops" },
    involvedObject: { apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "ops" },
    reason: "ScalingReplicaSet",
    message: "Scaled up replica set web-5f to 2",
    firstTimestamp: "2026-03-01T09:00:00Z",
    lastTimestamp: "2026-03-01T09:00:00Z",
    source: { component: "deployment-controller" },
  });
}

Deno.test("toHumanDuration prints durations like kubectl", () => {
  const cases: [number, string][] = [
    [-5_000, "<invalid>"],
    [-500, "0s"],
    [45_000, "45s"],
    [119_000, "119s"],
    [150_000, "2m30s"],
    [600_000, "10m"],
    [3 * 3_600_000 + 5 * 60_000, "3h5m"],
    [9 * 3_600_000, "9h"],
    [50 * 3_600_000, "2d2h"],
    [30 * 86_400_000, "30d"],
    [800 * 86_400_000, "2y70d"],
    [9 * 365 * 86_400_000, "9y"],
  ];
  assert.deepEqual(cases.map(([ms]) => toHumanDuration(ms)), cases.map(([, text]) => text));
});

Deno.test("event list with Accept Table answers the API server's columns and cells", async () => {
  await withSimulator(async (simulator) => {
    addEvents(simulator);
    const response = await fetch(`${simulator.url}/api/v1/events?limit=500`, { headers: { accept: TABLE_ACCEPT } });
    const table = await response.json();
    assert.equal(table.kind, "Table");
    assert.equal(table.metadata.resourceVersion, simulator.resourceVersion);
    assert.deepEqual(
      table.columnDefinitions.map((c: { name: string; priority: number }) => `${c.name}:${c.priority}`),
      [
        "Last Seen:0",
        "Type:0",
        "Reason:0",
        "Object:0",
        "Subobject:1",
        "Source:1",
        "Message:0",
        "First Seen:1",
        "Count:1",
        "Name:1",
      ],
    );
    assert.deepEqual(table.rows.map((r: { cells: unknown[] }) => r.cells), [
      [
        "3h",
        "Normal",
        "ScalingReplicaSet",
        "deployment/web",
        "",
        "deployment-controller",
        "Scaled up replica set web-5f to 2",
        "3h",
        1,
        "web.2",
      ],
      [
        "2m30s",
        "Warning",
        "BackOff",
        "pod/web-0",
        "spec.containers{app}",
        "kubelet, node-1",
        "Back-off restarting failed container app",
        "60m",
        4,
        "web-0.1",
      ],
    ]);
    assert.deepEqual(
      table.rows.map((r: { object: { kind: string; metadata: { namespace: string } } }) =>
        `${r.object.kind} ${r.object.metadata.namespace}`
      ),
      ["PartialObjectMetadata ops", "PartialObjectMetadata shop"],
    );
  });
});

async function findKubectl(): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir}/kubectl`;
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // Not in this PATH entry; the next one may have it.
    }
  }
  return undefined;
}

const kubectl = await findKubectl();
if (kubectl === undefined) console.log("kubectl tests skipped: kubectl is not on PATH");

async function writeKubeconfig(simulator: Simulator): Promise<{ dir: string; args: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "simulator-kubectl-" });
  await Deno.writeTextFile(`${dir}/kubeconfig`, simulator.kubeconfig());
  return { dir, args: ["--kubeconfig", `${dir}/kubeconfig`, "--cache-dir", `${dir}/cache`] };
}

Deno.test({
  name: "kubectl get events -A prints the simulator's events",
  ignore: kubectl === undefined,
}, async () => {
  await withSimulator(async (simulator) => {
    addEvents(simulator);
    const { dir, args } = await writeKubeconfig(simulator);
    try {
      const output = await new Deno.Command(kubectl!, {
        args: [...args, "get", "events", "-A"],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      assert.equal(new TextDecoder().decode(output.stderr), "");
      assert.equal(output.code, 0);
      assert.deepEqual(new TextDecoder().decode(output.stdout).trimEnd().split("\n").map((l) => l.split(/\s{2,}/)), [
        ["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        ["ops", "3h", "Normal", "ScalingReplicaSet", "deployment/web", "Scaled up replica set web-5f to 2"],
        ["shop", "2m30s", "Warning", "BackOff", "pod/web-0", "Back-off restarting failed container app"],
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test({
  name: "kubectl get events -A --watch prints events created while it watches",
  ignore: kubectl === undefined,
}, async () => {
  await withSimulator(async (simulator) => {
    addEvents(simulator);
    const { dir, args } = await writeKubeconfig(simulator);
    const child = new Deno.Command(kubectl!, {
      args: [...args, "get", "events", "-A", "--watch"],
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    try {
      const lines: string[] = [];
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      const readUntil = async (count: number) => {
        while (lines.length < count) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`Cannot read ${count} lines from kubectl: it ended after ${lines.join(" | ")}`);
          buffer += value;
          const parts = buffer.split("\n");
          buffer = parts.pop() ?? "";
          lines.push(...parts);
        }
      };
      await readUntil(3);
      await waitFor(() => simulator.requestLog.some((r) => r.path.includes("watch=true")));
      simulator.createEvent({
        metadata: { name: "late.1", namespace: "shop" },
        involvedObject: { kind: "Pod", name: "web-1", namespace: "shop" },
        reason: "Started",
        message: "Started container app",
      });
      await readUntil(4);
      assert.deepEqual(lines[3]!.split(/\s{2,}/), [
        "shop",
        "0s",
        "Normal",
        "Started",
        "pod/web-1",
        "Started container app",
      ]);
      await reader.cancel();
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Cannot see the condition within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("toObjectRepresentation answers the object, its PartialObjectMetadata or a one-row Table as asked", () => {
  const object = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-0", namespace: "shop", resourceVersion: "12", managedFields: [{ manager: "kubelet" }] },
  };
  const table = { columns: OBJECT_COLUMNS, row: () => toObjectRow(object, NOW_MS) };
  assert.equal(toObjectRepresentation(null, object, table), object);
  assert.equal(toObjectRepresentation("application/json", object, table), object);
  assert.deepEqual(
    toObjectRepresentation("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", object, table),
    {
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
      metadata: { name: "web-0", namespace: "shop", resourceVersion: "12" },
    },
  );
  const answer = toObjectRepresentation(TABLE_ACCEPT, object, table) as { metadata: unknown; rows: unknown[] };
  assert.deepEqual(answer.metadata, { resourceVersion: "12" });
  assert.deepEqual(answer.rows, [toObjectRow(object, NOW_MS)]);
});
