/**
 * The relay against a real control plane (tests/support/control_plane.ts), run exactly as in a pod: the relay's RBAC
 * from deploy/base/relay applied with kubectl, a TokenRequest token and the cluster CA in a service-account folder,
 * KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT pointing at the API server. The handler runs in-process on a real
 * socket over a fresh PostgreSQL schema, behind a front that records every batch's fence and answer and can hold a
 * chosen holder's requests. A watch collector records every Event version the API server holds, to compare with.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { dump as dumpYaml, loadAll as loadAllYaml } from "js-yaml";
import { createApp } from "../../handler/http/app.ts";
import { loadHandlerConfig } from "../../handler/config.ts";
import { createPostgresStore, type PostgresStore } from "../../handler/store/postgres_store.ts";
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";
import { EVENTS_PATH, FENCE_HOLDER_HEADER, FENCE_TRANSITIONS_HEADER } from "../../shared/contract/protocol.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import type { ControlPlane } from "./control_plane.ts";
import { withTestSchema } from "./database.ts";
import { findFreePort } from "./kube_processes.ts";
import { FAST_RELAY_ENV, sortVersions, waitUntil } from "./pipeline.ts";
import { relayV8FlagArgs } from "./relay_command.ts";

export const REAL_CLUSTER = "real-cluster";
const HANDLER_TOKEN = "real-cluster-token";
/** Where deploy/base/relay puts the relay when no overlay sets a namespace (its ClusterRoleBinding names it). */
export const RELAY_NAMESPACE = "default";
export const RELAY_SERVICE_ACCOUNT = "events-ingester-relay";
const RBAC_KINDS = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

export type Version = { uid: string; resourceVersion: string };

/** One POST /v1/events as the handler front saw it. */
export interface BatchSeen {
  holder: string | null;
  transitions: number | null;
  status: number;
  accepted: number;
  atMs: number;
}

/** A relay child process run with the in-cluster configuration. */
export interface RealRelay {
  podName: string;
  child: Deno.ChildProcess;
  healthUrl: string;
  /** Everything it wrote to stdout and stderr so far (JSON log lines); kept in a file when it exits. */
  logs(): Promise<string>;
  kill(signal: Deno.Signal): Promise<void>;
  /** Sends `signal` without waiting (SIGSTOP, SIGCONT). */
  signal(signal: Deno.Signal): void;
  /** Waits for the exit. */
  status: Promise<Deno.CommandStatus>;
}

export interface RealPipeline {
  plane: ControlPlane;
  sql: postgres.Sql;
  schema: string;
  store: PostgresStore;
  batches: BatchSeen[];
  /** Holds the requests of `holder` until the returned function is called. */
  holdBatchesOf(holder: string): () => void;
  /** Holders of the requests held so far, one entry per request. */
  held: string[];
  /** A service-account folder (token from TokenRequest, ca.crt) for the relay's ServiceAccount. */
  serviceAccountDir: string;
  spawnRelay(podName: string, env?: Record<string, string>): Promise<RealRelay>;
  storedVersions(): Promise<Version[]>;
  storedRows(): Promise<StoredRow[]>;
  gaps(): Promise<{ from: string | null; to: string; reason: string }[]>;
  checkpoint(): Promise<string | null>;
}

export interface StoredRow {
  uid: string;
  resource_version: string;
  reason: string;
  resource_kind: string;
  composition_id: string | null;
  /** The stored involved object, with the relay's enrichment folded in. */
  involved: {
    kind: string;
    name: string;
    labels?: Record<string, string>;
    owners?: { apiVersion: string; kind: string; name: string; uid: string }[];
    compositionId?: string;
    enrichmentError?: string;
  };
}

/** The relay's RBAC objects from deploy/base/relay (kustomize output), without the workload and its policy. */
export async function renderRelayRbac(plane: ControlPlane): Promise<string> {
  const rendered = await plane.kubectl(["kustomize", new URL("../../deploy/base/relay", import.meta.url).pathname]);
  const documents = rendered.split(/^---\n/m).filter((doc) => RBAC_KINDS.has(/^kind: (\S+)$/m.exec(doc)?.[1] ?? ""));
  assert.equal(documents.length, RBAC_KINDS.size, "deploy/base/relay renders one object of each RBAC kind");
  return documents.join("---\n");
}

interface RbacRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

/**
 * `rbac` (renderRelayRbac's output) with one `verb` on one `resource` taken out of the `kind` role, the rest of its
 * rules untouched: a rule naming other resources too is split so that only that pair goes. Throws when no rule grants
 * the pair, so a test cannot take away what was never given.
 */
export function withoutPermission(
  rbac: string,
  taken: { kind: "ClusterRole" | "Role"; resource: string; verb: string },
) {
  let isFound = false;
  const documents = loadAllYaml(rbac) as { kind: string; rules?: RbacRule[] }[];
  for (const document of documents) {
    if (document.kind !== taken.kind || document.rules === undefined) continue;
    document.rules = document.rules.flatMap((rule) => {
      if (!rule.resources?.includes(taken.resource) || !rule.verbs.includes(taken.verb)) return [rule];
      isFound = true;
      const others = rule.resources.filter((resource) => resource !== taken.resource);
      const verbs = rule.verbs.filter((verb) => verb !== taken.verb);
      return [
        ...(others.length > 0 ? [{ ...rule, resources: others }] : []),
        ...(verbs.length > 0 ? [{ ...rule, resources: [taken.resource], verbs }] : []),
      ];
    });
  }
  if (!isFound) throw new Error(`Cannot take ${taken.verb} on ${taken.resource} from the ${taken.kind}: not granted`);
  return documents.map((document) => dumpYaml(document)).join("---\n");
}

/** Applies `yaml` in the relay's namespace, as an operator would with `kubectl apply -n`. */
export async function applyYaml(plane: ControlPlane, yaml: string): Promise<void> {
  await plane.kubectl(["apply", `--namespace=${RELAY_NAMESPACE}`, "--filename=-"], { stdin: yaml });
}

/** Creates a namespace through the API. */
export async function createNamespace(plane: ControlPlane, name: string): Promise<void> {
  await plane.apiJson("/api/v1/namespaces", {
    method: "POST",
    body: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name } }),
  });
}

export interface EventObject {
  metadata: { uid: string; resourceVersion: string; name: string; namespace: string };
  count?: number;
  reason?: string;
  [key: string]: unknown;
}

/** POSTs a core/v1 Event about `involved` (a Pod named "subject" by default). */
export async function createEvent(
  plane: ControlPlane,
  namespace: string,
  name: string,
  involved: Record<string, string> = { apiVersion: "v1", kind: "Pod", name: "subject" },
): Promise<EventObject> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return await plane.apiJson<EventObject>(`/api/v1/namespaces/${namespace}/events`, {
    method: "POST",
    body: JSON.stringify({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name },
      involvedObject: { namespace, ...involved },
      reason: "Tested",
      message: `event ${name}`,
      type: "Normal",
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: "real-cluster-test" },
    }),
  });
}

/** Bumps an Event's count and lastTimestamp (what a recorder does for a repeat): a MODIFIED version. */
export async function bumpEvent(plane: ControlPlane, event: EventObject): Promise<EventObject> {
  const { namespace, name } = event.metadata;
  const current = await plane.apiJson<EventObject>(`/api/v1/namespaces/${namespace}/events/${name}`);
  const next = { ...current, count: (current.count ?? 1) + 1, lastTimestamp: new Date().toISOString() };
  return await plane.apiJson<EventObject>(`/api/v1/namespaces/${namespace}/events/${name}`, {
    method: "PUT",
    body: JSON.stringify(next),
  });
}

/** Every Event version (ADDED or MODIFIED) the API server reports from the moment `start` resolves. */
export interface EventCollector {
  versions(): Version[];
  /**
   * The versions once the watch has caught up with the API server: it has delivered the current version of every live
   * Event, so every version before those too (a watch delivers in order). Throws after 15 s without catching up.
   */
  settled(): Promise<Version[]>;
  /** Stops watching; throws when the collector failed (a version may have been missed). */
  stop(): Promise<void>;
}

/** Lists events, then watches from the list's resourceVersion, recording each version until stopped. */
export async function collectEvents(plane: ControlPlane): Promise<EventCollector> {
  const seen = new Map<string, Version>();
  const record = (item: EventObject) => {
    const version = { uid: item.metadata.uid, resourceVersion: item.metadata.resourceVersion };
    seen.set(`${version.uid}|${version.resourceVersion}`, version);
  };
  const list = await plane.apiJson<{ metadata: { resourceVersion: string }; items: EventObject[] }>("/api/v1/events");
  list.items.forEach(record);
  const controller = new AbortController();
  let position = list.metadata.resourceVersion;
  let failure: Error | undefined;
  /** Reads one watch until the server ends it; a broken connection ends it too (the loop resumes from `position`). */
  const watchOnce = async () => {
    const response = await plane.apiFetch(
      `/api/v1/events?watch=1&allowWatchBookmarks=true&resourceVersion=${position}`,
      { signal: controller.signal },
    );
    if (response.status !== 200) throw new Error(`Cannot collect events: watch from ${position}: ${response.status}`);
    let buffer = "";
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffer.slice(0, newline)) as { type: string; object: EventObject };
        buffer = buffer.slice(newline + 1);
        // A 410 here means versions were missed: the comparison would be wrong, so the collector fails the test.
        if (line.type === "ERROR") throw new Error(`Cannot collect events: ${JSON.stringify(line.object)}`);
        position = line.object.metadata.resourceVersion;
        if (line.type === "ADDED" || line.type === "MODIFIED") record(line.object);
      }
    }
  };
  const running = (async () => {
    while (!controller.signal.aborted) {
      try {
        await watchOnce();
      } catch (error) {
        if (controller.signal.aborted) return;
        // The connection broke (a loaded machine, the server closing it): resume from the last version seen.
        if (error instanceof TypeError) continue;
        failure = error as Error;
        return;
      }
    }
  })();
  const versions = () => {
    if (failure !== undefined) throw failure;
    return sortVersions([...seen.values()]);
  };
  const settled = async () => {
    const live = await liveVersions(plane);
    const isCaughtUp = () => live.every((v) => seen.has(`${v.uid}|${v.resourceVersion}`));
    for (const deadline = Date.now() + 15_000; !isCaughtUp();) {
      if (failure !== undefined) throw failure;
      if (Date.now() > deadline) throw new Error("Cannot collect events: the watch did not catch up within 15 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return versions();
  };
  return {
    versions,
    settled,
    async stop() {
      await settled();
      controller.abort();
      await running;
      if (failure !== undefined) throw failure;
    },
  };
}

/** The current version of every live Event. */
export async function liveVersions(plane: ControlPlane): Promise<Version[]> {
  const list = await plane.apiJson<{ items: EventObject[] }>("/api/v1/events");
  return sortVersions(
    list.items.map((item) => ({ uid: item.metadata.uid, resourceVersion: item.metadata.resourceVersion })),
  );
}

/** Waits until the stored versions include every one of `expected`, then asserts they equal them exactly. */
export async function assertStoredEqual(pipeline: RealPipeline, expected: Version[], timeoutMs = 30_000) {
  const wanted = new Set(expected.map((v) => `${v.uid}|${v.resourceVersion}`));
  let stored: Version[] = [];
  await waitUntil(`${expected.length} versions are stored`, async () => {
    stored = await pipeline.storedVersions();
    return stored.filter((v) => wanted.has(`${v.uid}|${v.resourceVersion}`)).length >= wanted.size;
  }, timeoutMs).catch((error) => {
    const have = new Set(stored.map((v) => `${v.uid}|${v.resourceVersion}`));
    const missing = [...wanted].filter((key) => !have.has(key));
    throw new Error(`${error.message}; missing ${missing.length}: ${missing.slice(0, 5).join(", ")}`, { cause: error });
  });
  assert.deepEqual(stored, sortVersions(expected));
}

/** GET a relay's health path; resolves to status and body text. */
export async function readHealth(relay: RealRelay, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${relay.healthUrl}${path}`);
  return { status: response.status, text: await response.text() };
}

/**
 * Runs `fn` with the relay's RBAC applied to `plane` (unless `isRbacApplied` is false), a fresh handler and schema,
 * and tears down relays and handler afterwards.
 */
export async function withRealPipeline(
  plane: ControlPlane,
  fn: (pipeline: RealPipeline) => Promise<void>,
  options: { isRbacApplied?: boolean } = {},
): Promise<void> {
  if (options.isRbacApplied !== false) await applyYaml(plane, await renderRelayRbac(plane));
  await withTestSchema(async (schema, sql) => {
    const dir = await Deno.makeTempDir({ prefix: "relay-real-cluster-" });
    const serviceAccountDir = `${dir}/serviceaccount`;
    await Deno.mkdir(serviceAccountDir);
    await Deno.writeTextFile(
      `${serviceAccountDir}/token`,
      await plane.createServiceAccountToken(RELAY_NAMESPACE, RELAY_SERVICE_ACCOUNT),
    );
    await Deno.writeTextFile(`${serviceAccountDir}/ca.crt`, plane.caPem);
    await Deno.writeTextFile(`${serviceAccountDir}/namespace`, RELAY_NAMESPACE);
    const config = loadHandlerConfig({
      DATABASE_URL: Deno.env.get("TEST_DATABASE_URL"),
      DB_SCHEMA: schema,
      DB_POOL_MAX: "4",
      RETENTION_DAYS: "0",
      CLUSTER_TOKEN_HASHES: `${REAL_CLUSTER}=${await toTokenHashHex(HANDLER_TOKEN)}`,
    });
    const logger = createLogger({ isDebug: false, write: () => {} });
    const store = createPostgresStore({
      url: config.databaseUrl,
      schema,
      poolMax: 4,
      retentionDays: 0,
      connectTimeoutS: 5,
      logger,
    });
    await store.migrate();
    const app = createApp({ config, store, logger });
    const batches: BatchSeen[] = [];
    const holds = new Map<string, Promise<void>>();
    const held: string[] = [];
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
      const holder = request.headers.get(FENCE_HOLDER_HEADER);
      const isBatch = new URL(request.url).pathname === EVENTS_PATH && request.method === "POST";
      const hold = holder === null ? undefined : holds.get(holder);
      if (isBatch && hold !== undefined) {
        held.push(holder!);
        await hold;
      }
      const response = await app.fetch(request);
      if (!isBatch) return response;
      const text = await response.text();
      const accepted = response.status === 200 ? (JSON.parse(text) as { accepted: number }).accepted : 0;
      const transitions = request.headers.get(FENCE_TRANSITIONS_HEADER);
      batches.push({
        holder,
        transitions: transitions === null ? null : Number(transitions),
        status: response.status,
        accepted,
        atMs: Date.now(),
      });
      return new Response(text, { status: response.status, headers: response.headers });
    });
    const handlerUrl = `http://127.0.0.1:${server.addr.port}`;
    const v8Flags = await relayV8FlagArgs();
    const relays: RealRelay[] = [];
    const apiPort = new URL(plane.url).port;

    const pipeline: RealPipeline = {
      plane,
      sql,
      schema,
      store,
      batches,
      held,
      serviceAccountDir,
      holdBatchesOf(holder) {
        let release = () => {};
        holds.set(holder, new Promise<void>((resolve) => (release = resolve)));
        return () => {
          holds.delete(holder);
          release();
        };
      },
      spawnRelay(podName, env = {}) {
        const healthPort = findFreePort();
        const logFile = `${dir}/${podName}.${relays.length}.log`;
        let logText = "";
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", ...v8Flags, new URL("../../relay/main.ts", import.meta.url).pathname],
          env: {
            ...passThroughEnv(),
            KUBERNETES_SERVICE_HOST: "127.0.0.1",
            KUBERNETES_SERVICE_PORT: apiPort,
            SERVICE_ACCOUNT_DIR: serviceAccountDir,
            HANDLER_URL: handlerUrl,
            HANDLER_TOKEN: HANDLER_TOKEN,
            CLUSTER_NAME: REAL_CLUSTER,
            POD_NAME: podName,
            POD_NAMESPACE: RELAY_NAMESPACE,
            ...FAST_RELAY_ENV,
            HEALTH_PORT: String(healthPort),
            ...env,
          },
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const pump = async (stream: ReadableStream<Uint8Array>) => {
          for await (const text of stream.pipeThrough(new TextDecoderStream())) logText += text;
        };
        const pumped = Promise.all([pump(child.stdout), pump(child.stderr)])
          .finally(() => Deno.writeTextFile(logFile, logText));
        let isExited = false;
        const status = child.status.then(async (s) => {
          isExited = true;
          await pumped;
          return s;
        });
        const relay: RealRelay = {
          podName,
          child,
          healthUrl: `http://127.0.0.1:${healthPort}`,
          logs: () => Promise.resolve(logText),
          signal(signal) {
            if (!isExited) child.kill(signal);
          },
          async kill(signal) {
            if (!isExited) child.kill(signal);
            await status;
          },
          status,
        };
        relays.push(relay);
        return Promise.resolve(relay);
      },
      async storedVersions() {
        return sortVersions(
          (await pipeline.storedRows()).map((r) => ({ uid: r.uid, resourceVersion: r.resource_version })),
        );
      },
      async storedRows() {
        return await sql.unsafe<StoredRow[]>(
          `select uid, resource_version, reason, resource_kind, composition_id::text as composition_id,
             raw->'involvedObject' as involved
           from "${schema}".k8s_events where cluster_name = $1`,
          [REAL_CLUSTER],
        );
      },
      async gaps() {
        const rows = await sql.unsafe<{ from_version: string | null; to_version: string; reason: string }[]>(
          `select from_version, to_version, reason from "${schema}".ingester_gaps where cluster = $1 order by id`,
          [REAL_CLUSTER],
        );
        return rows.map((r) => ({ from: r.from_version, to: r.to_version, reason: r.reason }));
      },
      async checkpoint() {
        return (await store.readCheckpoint(REAL_CLUSTER)).resumeVersion;
      },
    };
    try {
      await fn(pipeline);
    } finally {
      for (const relay of relays) {
        relay.signal("SIGCONT");
        await relay.kill("SIGKILL");
      }
      for (const release of holds.keys()) holds.delete(release);
      await server.shutdown();
      await store.close();
      if (Deno.env.get("REAL_CLUSTER_KEEP_LOGS") === undefined) await Deno.remove(dir, { recursive: true });
      else console.error(`relay logs kept in ${dir}`);
    }
  });
}

/** What a relay child needs from the test's environment to run Deno at all (its cache), nothing else. */
function passThroughEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["DENO_DIR", "HOME", "PATH"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The sum of a relay metric's samples on its /metrics page (Prometheus text), over the samples whose labels include
 * `labels`. `name` is the catalogue name (`events_ingester.relay.relists`); counters carry the `_total` suffix.
 */
export async function readRelayMetric(
  relay: RealRelay,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = (await readHealth(relay, "/metrics")).text;
  const base = name.replaceAll(".", "_");
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match === null || (match[1] !== base && match[1] !== `${base}_total`)) continue;
    const text = match[2] ?? "";
    if (Object.entries(labels).every(([key, value]) => text.includes(`${key}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}

/** Waits until the relay answers 200 on /readyz. */
export async function waitUntilReady(relay: RealRelay, timeoutMs = 30_000): Promise<void> {
  await waitUntil(`${relay.podName} is ready`, async () => {
    const answer = await readHealth(relay, "/readyz").catch(() => ({ status: 0 }));
    return answer.status === 200;
  }, timeoutMs);
}

export interface LeaseView {
  holder: string | null;
  transitions: number;
}

/** The relay's Lease as the API server holds it; undefined before it exists. */
export async function readLease(plane: ControlPlane, name = "events-ingester-relay"): Promise<LeaseView | undefined> {
  const response = await plane.apiFetch(`/apis/coordination.k8s.io/v1/namespaces/${RELAY_NAMESPACE}/leases/${name}`);
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  const lease = await response.json() as { spec: { holderIdentity?: string; leaseTransitions?: number } };
  return { holder: lease.spec.holderIdentity ?? null, transitions: lease.spec.leaseTransitions ?? 0 };
}
