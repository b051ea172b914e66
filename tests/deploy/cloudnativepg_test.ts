/**
 * deploy/examples/cloudnativepg: the handler writes through the CloudNativePG Pooler (PgBouncer, transaction mode)
 * of the Cluster it installs, with the account CloudNativePG makes; readers of the `events` notifications
 * (`deno task tail`, presenters) go to the Cluster's read-write Service directly, since LISTEN does not work
 * through a transaction pooler. The objects' fields are checked against the CRDs' structure (cnpg_schema.ts).
 */
import assert from "node:assert/strict";
import { loadHandlerConfig } from "../../handler/config.ts";
import { loadTailConfig } from "../../handler/tail/config.ts";
import { findCnpgProblems } from "./cnpg_schema.ts";
import { KUBECTL, type KubeObject, renderKustomization } from "./render.ts";
import { renderInstall } from "./secret_step.ts";
import { findComponent, materializeMounts, readData, resolveEnv } from "./workloads.ts";

const DIR = "deploy/examples/cloudnativepg";
const ignore = KUBECTL === null;

interface PoolerSpec {
  cluster: { name: string };
  type: string;
  pgbouncer: { poolMode: string; parameters: Record<string, string> };
}

function findKind(objects: KubeObject[], kind: string): KubeObject {
  const matches = objects.filter((o) => o.apiVersion === "postgresql.cnpg.io/v1" && o.kind === kind);
  assert.equal(matches.length, 1, `one ${kind}`);
  return matches[0]!;
}

Deno.test({
  name: `${DIR}: the handler writes through a transaction-mode Pooler of the Cluster, with the Cluster's app account`,
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, DIR);
    const cluster = findKind(objects, "Cluster");
    const pooler = findKind(objects, "Pooler");
    const spec = pooler.spec as PoolerSpec;
    assert.equal(spec.cluster.name, cluster.metadata.name);
    assert.equal(spec.type, "rw");
    assert.equal(spec.pgbouncer.poolMode, "transaction");
    // postgres.js names its prepared statements: PgBouncer must track them in transaction mode.
    assert.ok(Number(spec.pgbouncer.parameters.max_prepared_statements) > 0);
    assert.equal(pooler.metadata.name, `${cluster.metadata.name}-pooler-rw`);
    const container = findComponent(objects, "handler").pod.containers[0]!;
    const env = container.env ?? [];
    const refs = env.filter((v) => v.valueFrom?.secretKeyRef).map((v) => [v.name, v.valueFrom!.secretKeyRef!]);
    assert.deepEqual(refs, [
      ["DB_USER", { name: `${cluster.metadata.name}-app`, key: "username" }],
      ["DB_PASS", { name: `${cluster.metadata.name}-app`, key: "password" }],
    ]);
    const settings = resolveEnv(objects, { ...container, env: [] }).values;
    // The Pooler's Service is named after the Pooler; the handler's database is the one initdb made.
    assert.equal(settings.DB_HOST, pooler.metadata.name);
    const initdb = (cluster.spec as { bootstrap: { initdb: { database: string } } }).bootstrap.initdb;
    assert.equal(settings.DB_NAME, initdb.database);
  },
});

Deno.test({
  name: `${DIR}: the handler's loader accepts the install, pointed at the pooler with the app account's password`,
  ignore,
  fn: async () => {
    const { objects } = await renderInstall(KUBECTL!, DIR, { clusters: ["cluster-a"] });
    const handler = findComponent(objects, "handler");
    const container = handler.pod.containers[0]!;
    const rootDir = await Deno.makeTempDir({ prefix: "cnpg-" });
    try {
      const values = resolveEnv(objects, container).values;
      const env = materializeMounts({ objects, pod: handler.pod, container, rootDir, values });
      const url = new URL(loadHandlerConfig(env).databaseUrl);
      const app = readData(objects, "Secret", "events-db-app");
      assert.deepEqual(
        [url.hostname, url.port, url.pathname, url.username, decodeURIComponent(url.password)],
        ["events-db-pooler-rw", "5432", "/events", app.username, app.password],
      );
    } finally {
      await Deno.remove(rootDir, { recursive: true });
    }
  },
});

Deno.test({
  name: `${DIR}: LISTEN readers, \`deno task tail\` among them, connect to the Cluster's read-write Service`,
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, DIR);
    const cluster = findKind(objects, "Cluster");
    const listen = readData(objects, "ConfigMap", "events-ingester-listen-env");
    const config = loadTailConfig({ ...listen, DB_USER: "events_ingester", DB_PASS: "pw" });
    const url = new URL(config.databaseUrl);
    assert.equal(url.hostname, `${cluster.metadata.name}-rw`);
    assert.notEqual(url.hostname, findKind(objects, "Pooler").metadata.name);
    const initdb = (cluster.spec as { bootstrap: { initdb: { database: string } } }).bootstrap.initdb;
    assert.equal(url.pathname, `/${initdb.database}`);
  },
});

Deno.test({
  name: `${DIR}: the Cluster and the Pooler pass the CRDs' structural checks`,
  ignore,
  fn: async () => {
    const objects = await renderKustomization(KUBECTL!, DIR);
    assert.deepEqual(
      [findKind(objects, "Cluster"), findKind(objects, "Pooler")].flatMap((o) => findCnpgProblems(o)!),
      [],
    );
  },
});

Deno.test("findCnpgProblems reports unknown fields, missing required ones and values outside the enums", () => {
  const pooler: KubeObject = {
    apiVersion: "postgresql.cnpg.io/v1",
    kind: "Pooler",
    metadata: { name: "p" },
    spec: { type: "primary", instance: 2, pgbouncer: { poolMode: "statement", parameters: { a: 1 } } },
  };
  assert.deepEqual(findCnpgProblems(pooler), [
    "Pooler/p /spec/instance: is not a CRD field",
    "Pooler/p /spec: must have required property cluster",
    "Pooler/p /spec/type: must be one of rw, ro, r",
    "Pooler/p /spec/pgbouncer/poolMode: must be one of session, transaction",
    "Pooler/p /spec/pgbouncer/parameters: must map names to strings",
  ]);
  const cluster: KubeObject = {
    apiVersion: "postgresql.cnpg.io/v1",
    kind: "Cluster",
    metadata: { name: "c" },
    spec: { instances: 0, bootstrap: { initdb: { databse: "x" } } },
  };
  assert.deepEqual(findCnpgProblems(cluster), [
    "Cluster/c /spec/instances: must be an integer >= 1",
    "Cluster/c /spec/bootstrap/initdb/databse: is not a CRD field",
  ]);
  assert.equal(findCnpgProblems({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } }), null);
});
