/**
 * The relay works with exactly the RBAC of deploy/base/relay, and with one verb less it fails loudly: not ready on
 * /readyz, saying why, and an error log line naming the refused request.
 */
import assert from "node:assert/strict";
import { controlPlaneTest } from "../../support/control_plane.ts";
import { waitUntil } from "../../support/pipeline.ts";
import {
  applyYaml,
  assertStoredEqual,
  collectEvents,
  createEvent,
  createNamespace,
  readHealth,
  type RealRelay,
  RELAY_NAMESPACE,
  RELAY_SERVICE_ACCOUNT,
  renderRelayRbac,
  waitUntilReady,
  withoutPermission,
  withRealPipeline,
} from "../../support/real_cluster.ts";

const ACCOUNT = `system:serviceaccount:${RELAY_NAMESPACE}:${RELAY_SERVICE_ACCOUNT}`;

/**
 * Waits until /readyz answers 503 with a reason matching `reason` (a relay that just started is briefly not ready
 * for another reason: it has not read the Lease yet).
 */
async function waitUntilNotReady(relay: RealRelay, reason: RegExp): Promise<void> {
  let last = { status: 0, text: "" };
  await waitUntil(`${relay.podName} reports not ready because ${reason}`, async () => {
    last = await readHealth(relay, "/readyz").catch(() => ({ status: 0, text: "" }));
    return last.status === 503 && reason.test(last.text);
  }, 20_000).catch((error) => {
    throw new Error(`${error.message}; last answer ${last.status} ${JSON.stringify(last.text)}`, { cause: error });
  });
}

/** Waits until the relay logged an error line whose error names `refused`. */
async function waitForErrorLine(relay: RealRelay, refused: string): Promise<void> {
  await waitUntil(`${relay.podName} logs an error naming ${refused}`, async () => {
    const errors = await logLines(relay, "error");
    return errors.some((line) => String(line.error).includes(refused));
  }, 10_000).catch(async (error) => {
    throw new Error(`${error.message}; its log:\n${(await relay.logs()).split("\n").slice(0, 12).join("\n")}`, {
      cause: error,
    });
  });
}

/** The relay's JSON log lines at `level`. */
async function logLines(relay: RealRelay, level: string): Promise<Record<string, unknown>[]> {
  return (await relay.logs()).split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === level);
}

controlPlaneTest(
  "relay works with exactly the deploy/ RBAC and fails loudly, never silently, with one verb less",
  {},
  async (plane, t) => {
    await createNamespace(plane, "least");

    await t.step("with exactly the deploy/ RBAC the relay is ready and stores every event", async () => {
      await withRealPipeline(plane, async (pipeline) => {
        const bindings = await plane.kubectl([
          "get",
          "clusterrolebindings,rolebindings",
          "--all-namespaces",
          "-o=json",
        ]);
        const subjects =
          (JSON.parse(bindings) as { items: { metadata: { name: string }; subjects?: { name: string }[] }[] })
            .items.filter((item) => item.subjects?.some((subject) => subject.name === RELAY_SERVICE_ACCOUNT))
            .map((item) => item.metadata.name).sort();
        assert.deepEqual(subjects, ["events-ingester-relay", "events-ingester-relay-lease"], "only deploy/'s bindings");
        const collector = await collectEvents(plane);
        const relay = await pipeline.spawnRelay("exact");
        await waitUntilReady(relay);
        for (let i = 0; i < 5; i++) await createEvent(plane, "least", `exact-${i}`);
        await collector.stop();
        await assertStoredEqual(pipeline, await collector.settled());
        assert.deepEqual(await logLines(relay, "error"), []);
      });
    });

    await t.step("without watch on events: not ready, and an error line names the refused watch", async () => {
      await withRealPipeline(plane, async (pipeline) => {
        const rbac = withoutPermission(await renderRelayRbac(plane), {
          kind: "ClusterRole",
          resource: "events",
          verb: "watch",
        });
        await applyYaml(plane, rbac);
        const relay = await pipeline.spawnRelay("no-watch");
        await waitUntilNotReady(
          relay,
          /^leader, the API server refuses events: Cannot GET \/api\/v1\/events: 403 events is forbidden: /,
        );
        await waitForErrorLine(relay, `User "${ACCOUNT}" cannot watch resource "events"`);
      });
    });

    await t.step("without update on its Lease: not ready, and an error line names the refused update", async () => {
      await plane.apiFetch(`/apis/coordination.k8s.io/v1/namespaces/${RELAY_NAMESPACE}/leases/events-ingester-relay`, {
        method: "DELETE",
      }).then((response) => response.body?.cancel());
      await withRealPipeline(plane, async (pipeline) => {
        const rbac = withoutPermission(await renderRelayRbac(plane), {
          kind: "Role",
          resource: "leases",
          verb: "update",
        });
        await applyYaml(plane, rbac);
        const relay = await pipeline.spawnRelay("no-update");
        await waitUntilNotReady(
          relay,
          /^the API server refuses the Lease: Cannot PUT \/apis\/coordination.k8s.io\/v1\/namespaces\/default\/leases\/events-ingester-relay: 403 /,
        );
        await waitForErrorLine(relay, `User "${ACCOUNT}" cannot update resource "leases"`);
      });
    });
  },
);
