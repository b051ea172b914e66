/**
 * Faults the simulator cannot make: the relay runs in its own network namespace and reaches the real kube-apiserver
 * and the handler only through two veth pairs, one per path. A black hole on a pair (every packet dropped, both ways:
 * no FIN, no RST) mid-watch or mid-request must be noticed within the relay's configured bounds, and once the path
 * heals the relay must carry on and lose nothing: the stored versions equal the created ones. The black hole sets the
 * relay's end of the pair down (tests/support/network_namespace.ts says why that is silent for open connections).
 *
 * - kube-apiserver path: the leader cannot renew its Lease, so LEASE_RENEW_DEADLINE_S ends its leadership and with it
 *   the watch; after the heal it takes the Lease again and resumes from the stored checkpoint.
 * - handler path: the batch POST in flight gets no answer; HANDLER_REQUEST_TIMEOUT_MS abandons it and it is retried.
 *
 * Needs root and iproute2; skipped with a message when `ip netns add` is not possible (failed in CI).
 */
import assert from "node:assert/strict";
import { createApp } from "../../../handler/http/app.ts";
import { loadHandlerConfig } from "../../../handler/config.ts";
import { createPostgresStore } from "../../../handler/store/postgres_store.ts";
import { toTokenHashHex } from "../../../handler/http/token_hashes.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { type ControlPlane, controlPlaneTest, toKubeconfig } from "../../support/control_plane.ts";
import { withTestSchema } from "../../support/database.ts";
import { createNetworkNamespace, findNetnsProblem, type VethPair } from "../../support/network_namespace.ts";
import { FAST_RELAY_ENV, sortVersions, waitUntil } from "../../support/pipeline.ts";
import { relayV8FlagArgs } from "../../support/relay_command.ts";
import { startTcpProxy } from "../../support/tcp_proxy.ts";

const CLUSTER = "netns-cluster";
const TOKEN = "netns-token";
const NAMESPACE = "faults";
/** 10.254.<octet>.0/30 carries the kube-apiserver path, 10.254.<octet>.4/30 the handler path. */
const OCTET = 20 + (Deno.pid % 200);
const API_PAIR: VethPair = {
  hostName: `eia${Deno.pid}`,
  innerName: `eia${Deno.pid}r`,
  hostIp: `10.254.${OCTET}.1`,
  innerIp: `10.254.${OCTET}.2`,
};
const HANDLER_PAIR: VethPair = {
  hostName: `eih${Deno.pid}`,
  innerName: `eih${Deno.pid}r`,
  hostIp: `10.254.${OCTET}.5`,
  innerIp: `10.254.${OCTET}.6`,
};
const HANDLER_REQUEST_TIMEOUT_MS = 2_000;
/** How long each black hole lasts. */
const FAULT_MS = 6_000;

interface LogLine {
  time: string;
  msg: string;
  reason?: string;
  [field: string]: unknown;
}

/** Creates events in NAMESPACE every `intervalMs` until stopped; records every created (uid, resourceVersion). */
function startProducer(plane: ControlPlane, intervalMs: number) {
  const created: { uid: string; resourceVersion: string }[] = [];
  let isStopped = false;
  let sequence = 0;
  let failure: unknown;
  const running = (async () => {
    while (!isStopped) {
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      const event = await plane.apiJson<{ metadata: { uid: string; resourceVersion: string } }>(
        `/api/v1/namespaces/${NAMESPACE}/events`,
        {
          method: "POST",
          body: JSON.stringify({
            apiVersion: "v1",
            kind: "Event",
            metadata: { name: `fault-${Date.now()}-${sequence++}` },
            involvedObject: { apiVersion: "v1", kind: "Pod", namespace: NAMESPACE, name: "subject" },
            reason: "Tested",
            message: "network fault test",
            type: "Normal",
            source: { component: "network-faults-test" },
            count: 1,
            firstTimestamp: now,
            lastTimestamp: now,
          }),
        },
      );
      created.push({ uid: event.metadata.uid, resourceVersion: event.metadata.resourceVersion });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })().catch((error) => {
    failure = error;
  });
  return {
    created,
    /** Stops producing; throws what made it stop early, if anything did. */
    async stop() {
      isStopped = true;
      await running;
      if (failure !== undefined) throw failure;
    },
  };
}

/** Spawns the relay inside the namespace; collects its JSON log lines. */
async function spawnRelay(execPrefix: string[], env: Record<string, string>) {
  const [command, ...prefixArgs] = execPrefix;
  const relayMain = new URL("../../../relay/main.ts", import.meta.url).pathname;
  const inherited = Object.fromEntries(
    ["PATH", "HOME", "DENO_DIR"].flatMap((name) => Deno.env.get(name) ? [[name, Deno.env.get(name)!]] : []),
  );
  const child = new Deno.Command(command!, {
    args: [...prefixArgs, Deno.execPath(), "run", "-A", ...await relayV8FlagArgs(), relayMain],
    env: { ...inherited, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const reading = (async () => {
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const chunk of lines) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts.filter((line) => line.startsWith("{"))) logs.push(JSON.parse(part) as LogLine);
    }
  })();
  const readingErrors = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void stderr.push(chunk) }),
  );
  return {
    logs,
    stderr,
    /** The first log line at or after `fromMs` whose msg matches, or undefined. */
    find(fromMs: number, msg: RegExp, reason?: string): LogLine | undefined {
      return logs.find((line) =>
        Date.parse(line.time) >= fromMs && msg.test(line.msg) && (reason === undefined || line.reason === reason)
      );
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // exited already
      }
      await child.status;
      await Promise.allSettled([reading, readingErrors]);
    },
  };
}

type Relay = Awaited<ReturnType<typeof spawnRelay>>;

/** Waits until the relay's log has a line matching `msg` written at or after `fromMs`; resolves to that line. */
async function waitForLog(relay: Relay, fromMs: number, msg: RegExp, reason?: string, timeoutMs = 30_000) {
  await waitUntil(
    `the relay logs ${msg}${reason ? ` (${reason})` : ""}`,
    () => relay.find(fromMs, msg, reason) !== undefined,
    timeoutMs,
  )
    .catch((error) => {
      throw new Error(
        `${error.message}\nrelay log tail:\n${relay.logs.slice(-15).map((l) => JSON.stringify(l)).join("\n")}`,
      );
    });
  return relay.find(fromMs, msg, reason)!;
}

const netnsProblem = findNetnsProblem();
if (netnsProblem !== undefined) console.error(`network fault tests: ${netnsProblem}`);

controlPlaneTest(
  "a relay in its own network namespace survives black holes to the kube-apiserver and to the handler",
  // The API server's certificate names the first Service IP: make it the host end of the kube-apiserver pair.
  { serviceClusterIpRange: `10.254.${OCTET}.0/24` },
  async (plane, t) => {
    if (netnsProblem !== undefined) {
      if (Deno.env.get("CI") === "true") throw new Error(`Cannot run the network fault tests: ${netnsProblem}`);
      return;
    }
    await withTestSchema(async (schema, sql) => {
      const netns = await createNetworkNamespace(`ei-faults-${Deno.pid}`);
      const apiProxy = { stop: () => Promise.resolve() };
      let handlerServer: Deno.HttpServer | undefined;
      let relay: Relay | undefined;
      const producers: ReturnType<typeof startProducer>[] = [];
      const store = createPostgresStore({
        url: Deno.env.get("TEST_DATABASE_URL")!,
        schema,
        poolMax: 4,
        retentionDays: 0,
        connectTimeoutS: 5,
        logger: createLogger({ isDebug: false, write: () => {} }),
      });
      try {
        await netns.addPair(API_PAIR);
        await netns.addPair(HANDLER_PAIR);
        await store.migrate();
        const config = loadHandlerConfig({
          DATABASE_URL: Deno.env.get("TEST_DATABASE_URL"),
          DB_SCHEMA: schema,
          RETENTION_DAYS: "0",
          CLUSTER_TOKEN_HASHES: `${CLUSTER}=${await toTokenHashHex(TOKEN)}`,
        });
        const app = createApp({ config, store, logger: createLogger({ isDebug: false, write: () => {} }) });
        handlerServer = Deno.serve({ hostname: HANDLER_PAIR.hostIp, port: 0, onListen: () => {} }, app.fetch);
        const apiPort = Number(new URL(plane.url).port);
        const proxy = startTcpProxy({ hostname: "127.0.0.1", port: apiPort }, { hostname: API_PAIR.hostIp });
        apiProxy.stop = () => proxy.stop();
        const kubeconfigPath = `${plane.dir}/relay-netns.kubeconfig`;
        await Deno.writeTextFile(
          kubeconfigPath,
          toKubeconfig({
            url: `https://${API_PAIR.hostIp}:${proxy.port}`,
            caPem: plane.caPem,
            user: "relay",
            token: plane.adminToken,
          }),
        );
        await plane.kubectl(["create", "namespace", NAMESPACE]);
        relay = await spawnRelay(netns.execPrefix, {
          ...FAST_RELAY_ENV,
          KUBECONFIG: kubeconfigPath,
          HANDLER_URL: `http://${HANDLER_PAIR.hostIp}:${(handlerServer.addr as Deno.NetAddr).port}`,
          HANDLER_TOKEN: TOKEN,
          CLUSTER_NAME: CLUSTER,
          POD_NAME: "relay-netns",
          LEASE_NAMESPACE: NAMESPACE,
          NAMESPACES: NAMESPACE,
          HANDLER_REQUEST_TIMEOUT_MS: String(HANDLER_REQUEST_TIMEOUT_MS),
        });
        const running = relay;
        const storedVersions = async () =>
          sortVersions(
            (await sql.unsafe<{ uid: string; resource_version: string }[]>(
              `select uid, resource_version from "${schema}".k8s_events where cluster_name = $1`,
              [CLUSTER],
            )).map((row) => ({ uid: row.uid, resourceVersion: row.resource_version })),
          );
        const allCreated: { uid: string; resourceVersion: string }[] = [];
        /** Every version created so far, in both steps, is stored, and nothing else. */
        const assertNothingLost = async (created: { uid: string; resourceVersion: string }[]) => {
          allCreated.push(...created);
          const expected = sortVersions(allCreated);
          let stored: { uid: string; resourceVersion: string }[] = [];
          await waitUntil("the stored versions equal the created ones", async () => {
            stored = await storedVersions();
            return stored.length >= expected.length;
          }, 30_000).catch((error) => {
            throw new Error(`${error.message}: stored ${stored.length} of ${expected.length}`);
          });
          assert.deepEqual(stored, expected);
        };
        await waitForLog(running, 0, /^became leader$/);

        await t.step("black hole to the kube-apiserver mid-watch: the Lease deadline notices it", async () => {
          const producer = startProducer(plane, 100);
          producers.push(producer);
          await waitUntil("events flow", async () => (await storedVersions()).length >= 5, 30_000);
          const faultMs = Date.now();
          await netns.blackHole(API_PAIR);
          let detected: LogLine;
          try {
            detected = await waitForLog(running, faultMs, /^(lost leadership|cannot acquire or renew the Lease)$/);
            await new Promise((resolve) => setTimeout(resolve, faultMs + FAULT_MS - Date.now()));
          } finally {
            await netns.heal(API_PAIR);
          }
          const healedMs = Date.now();
          const detectionMs = Date.parse(detected.time) - faultMs;
          const leader = await waitForLog(running, healedMs, /^became leader$/);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          await producer.stop();
          await assertNothingLost(producer.created);
          const recoveredMs = Date.parse(leader.time) - healedMs;
          console.log(
            `kube-apiserver black hole: noticed after ${detectionMs} ms (${detected.msg}), leader again ` +
              `${recoveredMs} ms after the heal, ${producer.created.length} events, all stored`,
          );
          const deadlineMs = Number(FAST_RELAY_ENV.LEASE_RENEW_DEADLINE_S) * 1000;
          assert.ok(detectionMs <= deadlineMs + 2_000, `noticed after ${detectionMs} ms, bound ${deadlineMs} ms`);
        });

        await t.step("black hole to the handler mid-request: HANDLER_REQUEST_TIMEOUT_MS notices it", async () => {
          const producer = startProducer(plane, 100);
          producers.push(producer);
          const before = (await storedVersions()).length;
          await waitUntil("events flow", async () => (await storedVersions()).length >= before + 5, 30_000);
          const faultMs = Date.now();
          await netns.blackHole(HANDLER_PAIR);
          let detected: LogLine;
          try {
            detected = await waitForLog(running, faultMs, /^cannot send batch, retrying$/, "TIMEOUT");
            await new Promise((resolve) => setTimeout(resolve, faultMs + FAULT_MS - Date.now()));
          } finally {
            await netns.heal(HANDLER_PAIR);
          }
          const detectionMs = Date.parse(detected.time) - faultMs;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          await producer.stop();
          await assertNothingLost(producer.created);
          console.log(
            `handler black hole: noticed after ${detectionMs} ms (${detected.msg}, ${detected.reason}), ` +
              `${producer.created.length} events, all stored`,
          );
          assert.ok(
            detectionMs >= HANDLER_REQUEST_TIMEOUT_MS - 200 && detectionMs <= HANDLER_REQUEST_TIMEOUT_MS + 2_000,
            `noticed after ${detectionMs} ms, bound ${HANDLER_REQUEST_TIMEOUT_MS} ms`,
          );
        });
      } finally {
        for (const producer of producers) await producer.stop().catch(() => {}); // a step's failure is reported
        await relay?.kill();
        await apiProxy.stop();
        await handlerServer?.shutdown();
        await store.close();
        await netns.remove();
      }
    });
  },
);
