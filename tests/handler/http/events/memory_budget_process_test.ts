/**
 * The handler process stays inside its container's memory limit whatever clients send within the documented limits:
 * a real `handler/main.ts` child, run with the V8 flags of the handler image, takes concurrent maximal batches while
 * its resident size is sampled from /proc; refused batches are retried later and everything is stored exactly once.
 */
import assert from "node:assert/strict";
import { findFreePort } from "../../../../handler/dev/embedded_database.ts";
import { DEFAULT_LIMITS } from "../../../../shared/contract/limits.ts";
import { parseDockerfile } from "../../../deploy/dockerfile.ts";
import { parseManifests } from "../../../deploy/render.ts";
import type { Container } from "../../../deploy/workloads.ts";
import { withTestSchema } from "../../../support/database.ts";
import { CLUSTER, testEnv, TOKEN } from "../app_harness.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../../../support/subprocess.ts";

const MIB = 1024 * 1024;
const ROOT = new URL("../../../../", import.meta.url);

/** The `--v8-flags=` arguments of the handler image's command: the process runs as it ships. */
function readImageV8Args(): string[] {
  const { command } = parseDockerfile(Deno.readTextFileSync(new URL("deploy/handler/Dockerfile", ROOT)));
  return command.filter((arg) => arg.startsWith("--v8-flags="));
}

/** The handler container's memory limit in the base Deployment, in bytes. */
function readMemoryLimitBytes(): number {
  const [deployment] = parseManifests(Deno.readTextFileSync(new URL("deploy/base/handler/deployment.yaml", ROOT)));
  const spec = deployment?.spec as { template: { spec: { containers: Container[] } } };
  const limit = String(spec.template.spec.containers[0]?.resources?.limits?.memory);
  const match = /^(\d+)Mi$/.exec(limit);
  if (!match) throw new Error(`Cannot read the handler's memory limit: "${limit}" is not in Mi`);
  return Number(match[1]) * MIB;
}

/** Resident set size (VmRSS) or its peak (VmHWM) of a process, in bytes; undefined once it has exited. */
function readStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Rows of one maximal request: lines of at most LINE_BYTES_MAX bytes that fill DECODED_BODY_BYTES_MAX exactly. */
const ROWS_PER_REQUEST = Math.ceil(DEFAULT_LIMITS.decodedBodyBytesMax / (DEFAULT_LIMITS.lineBytesMax + 1));
const LINE_BYTES = Math.floor(DEFAULT_LIMITS.decodedBodyBytesMax / ROWS_PER_REQUEST) - 1;

/**
 * One event line of LINE_BYTES bytes (without its line end): the message is ASCII padding behind one character
 * outside Latin-1, so V8 holds the row's strings at two bytes a character, the most a line can cost.
 */
function maximalLine(request: number, row: number): string {
  const uid = crypto.randomUUID();
  const head = JSON.stringify({
    v: 1,
    kind: "event",
    cluster: CLUSTER,
    observedAt: "2026-11-20T10:00:05Z",
    event: {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `big-${request}-${row}`, namespace: "load", uid, resourceVersion: String(row + 1) },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: `big-${request}`, namespace: "load", uid: `pod-${uid}` },
      reason: "Load",
      type: "Normal",
      lastTimestamp: "2026-11-20T10:00:01Z",
      message: "€",
    },
  });
  const at = head.lastIndexOf('"}}');
  const padding = LINE_BYTES - new TextEncoder().encode(head).length;
  return head.slice(0, at) + "x".repeat(padding) + head.slice(at);
}

/** A gzip body of ROWS_PER_REQUEST maximal lines: DECODED_BODY_BYTES_MAX decoded, a few dozen KiB sent. */
async function maximalBody(request: number): Promise<Uint8Array<ArrayBuffer>> {
  const encoder = new TextEncoder();
  const lines = (function* () {
    for (let row = 0; row < ROWS_PER_REQUEST; row++) yield encoder.encode(maximalLine(request, row) + "\n");
  })();
  const body = await new Response(ReadableStream.from(lines).pipeThrough(new CompressionStream("gzip"))).bytes();
  return body;
}

interface Attempt {
  status: number;
  code: string | null;
  retryAfter: string | null;
}

async function postBody(baseUrl: string, body: Uint8Array<ArrayBuffer>): Promise<Attempt> {
  const response = await fetch(`${baseUrl}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson", "content-encoding": "gzip" },
    body,
  });
  const answer = await response.json() as { code?: string; accepted?: number };
  if (response.status === 200) assert.equal(answer.accepted, ROWS_PER_REQUEST);
  return { status: response.status, code: answer.code ?? null, retryAfter: response.headers.get("retry-after") };
}

/** The refusals a client may get for a batch within every limit: each asks it to retry after a second. */
const REFUSALS = new Set(["429 TOO_MANY_REQUESTS 1", "503 OVER_MEMORY_BUDGET 1"]);

/** Sends the body until it is stored, waiting Retry-After seconds after each refusal; records every attempt. */
async function sendUntilStored(baseUrl: string, body: Uint8Array<ArrayBuffer>, attempts: Attempt[]): Promise<void> {
  for (;;) {
    const attempt = await postBody(baseUrl, body);
    attempts.push(attempt);
    if (attempt.status === 200) return;
    const refusal = `${attempt.status} ${attempt.code} ${attempt.retryAfter}`;
    assert.ok(REFUSALS.has(refusal), refusal);
    await new Promise((resolve) => setTimeout(resolve, Number(attempt.retryAfter) * 1000));
  }
}

/** More than REQUESTS_IN_FLIGHT_MAX (8), each charged the most one request may hold. */
const CONCURRENT_REQUESTS = 10;

Deno.test({
  name: "handler/main.ts with the image's V8 flags stays under the Deployment's memory limit with concurrent maximal " +
    "batches, and every refused batch is stored exactly once when retried",
  fn: async () => {
    await withTestSchema(async (schema, sql) => {
      const limitBytes = readMemoryLimitBytes();
      const bodies = await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, (_, n) => maximalBody(n)));
      const port = await findFreePort();
      const child = spawnDeno(["run", ...readImageV8Args(), "-A", "handler/main.ts"], {
        ...await testEnv(schema),
        PORT: String(port),
        DB_POOL_MAX: "10",
      });
      const baseUrl = `http://127.0.0.1:${port}`;
      let rssMax = 0;
      const sampler = setInterval(() => rssMax = Math.max(rssMax, readStatusBytes(child.pid, "VmRSS") ?? 0), 20);
      const attempts: Attempt[] = [];
      let peak = 0;
      let output: { code: number; stdout: string; stderr: string } | undefined;
      try {
        await waitUntilAnswering(child, `${baseUrl}/readyz`);
        const idleRss = readStatusBytes(child.pid, "VmRSS")!;
        const started = performance.now();
        await Promise.all(bodies.map((body) => sendUntilStored(baseUrl, body, attempts)));
        const elapsedS = (performance.now() - started) / 1000;
        clearInterval(sampler);
        peak = readStatusBytes(child.pid, "VmHWM")!;
        const refused = new Map<string, number>();
        for (const a of attempts.filter((a) => a.status !== 200)) {
          refused.set(`${a.status} ${a.code}`, (refused.get(`${a.status} ${a.code}`) ?? 0) + 1);
        }
        console.log(
          `idle RSS ${(idleRss / MIB).toFixed(0)} MiB, sampled max ${(rssMax / MIB).toFixed(0)} MiB, ` +
            `peak (VmHWM) ${(peak / MIB).toFixed(0)} MiB, limit ${(limitBytes / MIB).toFixed(0)} MiB; ` +
            `${attempts.length} attempts, refused ${JSON.stringify(Object.fromEntries(refused))}; ` +
            `${elapsedS.toFixed(1)} s`,
        );
      } catch (error) {
        output = await stopChild(child);
        throw new Error(`Cannot load the handler: ${error}\n${output.stderr.slice(-2000)}`, { cause: error });
      } finally {
        clearInterval(sampler);
        output ??= await stopChild(child);
      }
      assert.ok(peak < limitBytes, `peak RSS ${(peak / MIB).toFixed(0)} MiB is over ${limitBytes / MIB} MiB`);
      // The budget, not luck, kept it there: maximal batches were refused for memory and stored on a later try.
      assert.ok(attempts.some((a) => a.code === "OVER_MEMORY_BUDGET"), JSON.stringify(attempts));
      const [counts] = await sql.unsafe(
        `select count(*)::int as n, count(distinct (global_uid, resource_version))::int as distinct_n
           from "${schema}".k8s_events`,
      );
      const expected = CONCURRENT_REQUESTS * ROWS_PER_REQUEST;
      assert.deepEqual({ n: counts?.n, distinct: counts?.distinct_n }, { n: expected, distinct: expected });
      assert.equal(output.code, 0, output.stderr);
      assert.equal(output.stderr, "");
      for (const line of output.stdout.split("\n").filter((l) => l !== "")) JSON.parse(line);
    });
  },
});
