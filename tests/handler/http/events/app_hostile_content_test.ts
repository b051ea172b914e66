/**
 * A 5xx tells the relay "the same batch will work later", so no content of a well-framed batch may produce one.
 * Property test: many batches of real events with hostile values put at random fields (wrong types, numbers at and
 * past the limits, odd strings, nulls, deep values within the depth limit, dates at the ends of the calendar, control
 * characters) go through the real app into the real PostgreSQL, on the handler's own table and on the strict Krateo
 * table with rules the handler does not know about. Every answer must be 200 (or a documented 4xx), account for every
 * line, store what it says, and be the same when the batch is sent again. Seeds are fixed, so a failure replays.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { PROBLEM_CODES } from "../../../../handler/http/http_error.ts";
import { LINE_ERROR_CODES } from "../../../../shared/contract/line_error.ts";
import type { IngestResponse } from "../../../../shared/contract/protocol.ts";
import { type AppHarness, CLUSTER, OTHER_CLUSTER, OTHER_TOKEN, post, TOKEN, withApp } from "../app_harness.ts";
import { addRefusingRules, applyStrictKrateoSchema } from "../../store/refusal_support.ts";

/** mulberry32: a small seeded PRNG, so each batch can be rebuilt from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** Number tokens JSON.stringify cannot write (it writes Infinity as null): spliced into the line text as they are. */
const RAW_NUMBERS = ["1e400", "-1e400", "1E-400", "-0", "123456789012345678901234567890123", "0.1e-999999"];

const TIMESTAMPS = [
  "9999-12-31T23:59:59Z",
  "9999-12-31T00:00:00.000000001Z",
  "0001-01-01T00:00:00Z",
  "0001-01-01T00:00:00.5+00:00",
  "0001-01-01T00:00:00+00:01",
  "9999-12-31T23:00:00-01:00",
  "1970-01-01T00:00:00Z",
  "2026-02-30T00:00:00Z",
  "2026-11-20T24:00:00Z",
  "2026-11-20T10:00:60Z",
  "2026-11-20",
  "2026-11-20T10:00:00",
  "+010000-01-01T00:00:00Z",
  "1e9",
];

const STRINGS = [
  "",
  " ",
  "\t\n\r",
  "\u0001\u0002\u001f\u007f\u0085",
  "\\",
  "\\u0000",
  "'; drop table k8s_events; --",
  '"quoted"',
  "🚀 emoji and \u202e right-to-left",
  "e\u0301 combining",
  "\ud83d\ude80",
  "Forbidden",
  "a poison pill",
  "Normal",
  "Warning",
  "00000000-0000-0000-0000-000000000000",
  "7D0F3A52-8F0E-4C1B-9D7E-2A6B5C4D3E21",
  "not-a-uuid",
  "n".repeat(64),
  "u".repeat(253),
  "u".repeat(254),
  "€".repeat(253),
  "x".repeat(20_000),
];

const ATOMS: unknown[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  1.5,
  2 ** 53 + 2,
  -(2 ** 63),
  1.7976931348623157e308,
  -1.7976931348623157e308,
  5e-324,
  [],
  {},
  [1, "a", null, { b: [] }],
  JSON.parse('{"$ref": "#", "__proto__": {"polluted": true}, "constructor": {"prototype": {}}}'),
];

/** A value nested `depth` levels deep, alternating objects and arrays. */
function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { k: value } : [value];
  return value;
}

/** A hostile value, or a RAW_NUMBERS placeholder (a string the caller replaces in the line text). */
function hostileValue(random: Random): unknown {
  const roll = random();
  if (roll < 0.3) return pick(random, TIMESTAMPS);
  if (roll < 0.6) return pick(random, STRINGS);
  if (roll < 0.8) return pick(random, ATOMS);
  if (roll < 0.9) return `__RAW_NUMBER_${Math.floor(random() * RAW_NUMBERS.length)}__`;
  // Within the default JSON_DEPTH_MAX of 32 at any field of the record; a few go past it (TOO_DEEP).
  return nested(1 + Math.floor(random() * 30), pick(random, [...STRINGS.slice(0, 12), ...ATOMS.slice(0, 12)]));
}

/** Fields worth hitting that a fixture may not have. */
const EXTRA_PATHS = [
  ["v"],
  ["kind"],
  ["cluster"],
  ["observedAt"],
  ["event"],
  ["event", "metadata"],
  ["event", "metadata", "uid"],
  ["event", "metadata", "resourceVersion"],
  ["event", "metadata", "namespace"],
  ["event", "metadata", "creationTimestamp"],
  ["event", "eventTime"],
  ["event", "series"],
  ["event", "count"],
  ["event", "deprecatedCount"],
  ["event", "note"],
  ["event", "related"],
  ["enrichment"],
  ["enrichment", "labels"],
  ["enrichment", "labels", "app"],
  ["enrichment", "owners"],
  ["enrichment", "compositionId"],
  ["enrichment", "error"],
];

/** Every path to a value inside `value` (object keys and array indexes), the value itself excluded. */
function pathsOf(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== "object" || value === null) return [];
  const paths: string[][] = [];
  for (const [key, child] of Object.entries(value)) {
    paths.push([...prefix, key], ...pathsOf(child, [...prefix, key]));
  }
  return paths;
}

/** Sets (or, with `isDeleted`, removes) the value at `path`, creating objects on the way where there are none. */
function setAt(target: Record<string, unknown>, path: string[], value: unknown, isDeleted: boolean): void {
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null) {
      if (isDeleted) return;
      node[key] = {};
    }
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (isDeleted) delete node[last];
  else node[last] = structuredClone(value); // Atoms are shared: a later change inside one must not reach the others.
}

/** One NDJSON line: a fixture event of `cluster` with a fresh identity and 1-3 hostile changes. */
function hostileLine(fixture: Record<string, unknown>, cluster: string, random: Random): string {
  const event = structuredClone(fixture);
  const record: Record<string, unknown> = {
    v: 1,
    kind: "event",
    cluster,
    observedAt: "2026-11-20T10:00:05Z",
    event,
    enrichment: { labels: { app: "web" }, compositionId: "7d0f3a52-8f0e-4c1b-9d7e-2a6b5c4d3e21" },
  };
  const metadata = event.metadata as Record<string, unknown>;
  const hex = (digits: number) => Math.floor(random() * 16 ** digits).toString(16).padStart(digits, "0");
  metadata.uid = `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(6)}${hex(6)}`;
  metadata.resourceVersion = String(Math.floor(random() * 1e9));
  const paths = [...pathsOf(record), ...EXTRA_PATHS];
  const changes = 1 + Math.floor(random() * 3);
  for (let i = 0; i < changes; i++) {
    setAt(record, pick(random, paths), hostileValue(random), random() < 0.15);
  }
  return JSON.stringify(record).replace(/"__RAW_NUMBER_(\d)__"/g, (_, index) => RAW_NUMBERS[Number(index)]!);
}

async function readFixtures(): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  for (const name of ["core_v1.ndjson", "events_v1.ndjson"]) {
    const text = await Deno.readTextFile(new URL(`../../../fixtures/${name}`, import.meta.url));
    for (const line of text.split("\n")) if (line.trim() !== "") events.push(JSON.parse(line));
  }
  return events;
}

/** Problem codes a batch's content may get: the documented 4xx answers about a request's content. */
const CONTENT_PROBLEMS = Object.entries(PROBLEM_CODES).filter(([, { status }]) => status >= 400 && status < 500)
  .map(([code]) => code);

/** Rows and gap records stored for a cluster. */
async function storedCount(sql: postgres.Sql, schema: string, cluster: string): Promise<number> {
  const [row] = await sql.unsafe(
    `select (select count(*) from "${schema}".k8s_events where cluster_name = $1)
          + (select count(*) from "${schema}".ingester_gaps where cluster = $1) as n`,
    [cluster],
  );
  return Number(row?.n);
}

interface Sent {
  status: number;
  body: Record<string, unknown>;
}

/** Asserts an answer is 200 accounting for all `lines`, or a documented content 4xx; returns it as IngestResponse. */
function checkAnswer(answer: Sent, lines: number, where: string): IngestResponse | undefined {
  assert.ok(answer.status < 500, `${where}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 500)}`);
  if (answer.status !== 200) {
    assert.ok(CONTENT_PROBLEMS.includes(answer.body.code as string), `${where}: ${JSON.stringify(answer.body)}`);
    return undefined;
  }
  const result = answer.body as unknown as IngestResponse;
  assert.equal(result.accepted + result.duplicates + result.rejected.length, lines, where);
  const rejectedLines = result.rejected.map((error) => error.line);
  assert.deepEqual(rejectedLines, [...new Set(rejectedLines)].sort((a, b) => a - b), where);
  for (const error of result.rejected) {
    assert.ok((LINE_ERROR_CODES as readonly string[]).includes(error.code), `${where}: ${error.code}`);
    assert.ok(error.line >= 1 && error.line <= lines, `${where}: line ${error.line}`);
  }
  return result;
}

const ROUNDS = 12;
const BATCHES_PER_ROUND = 4;
const LINES_PER_BATCH = 30;

/**
 * Sends ROUNDS rounds of BATCHES_PER_ROUND hostile batches at once, each twice, checking every answer; returns the
 * line codes seen.
 */
async function sendHostileBatches(harness: AppHarness, seed: number): Promise<Set<string>> {
  const fixtures = await readFixtures();
  const senders = [{ cluster: CLUSTER, token: TOKEN }, { cluster: OTHER_CLUSTER, token: OTHER_TOKEN }];
  const accepted = new Map(senders.map(({ cluster }) => [cluster, 0]));
  const codes = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const batches = Array.from({ length: BATCHES_PER_ROUND }, (_, index) => {
      const batchSeed = seed * 1_000 + round * BATCHES_PER_ROUND + index;
      const random = seededRandom(batchSeed);
      const sender = senders[index % senders.length]!;
      const lines = Array.from(
        { length: LINES_PER_BATCH },
        () => hostileLine(pick(random, fixtures), sender.cluster, random),
      );
      return { batchSeed, sender, body: lines.join("\n") + "\n" };
    });
    const send = () => Promise.all(batches.map(({ sender, body }) => post(harness.app, body, { token: sender.token })));
    const firsts = await send();
    const agains = await send();
    for (const [index, batch] of batches.entries()) {
      const where = `batch seed ${batch.batchSeed}`;
      const first = checkAnswer(firsts[index]!, LINES_PER_BATCH, where);
      const again = checkAnswer(agains[index]!, LINES_PER_BATCH, `${where}, sent again`);
      assert.equal(agains[index]!.status, firsts[index]!.status, where);
      if (first === undefined || again === undefined) continue;
      // The same batch again: everything stored is a duplicate, the same lines are rejected the same way.
      assert.deepEqual(again, { accepted: 0, duplicates: first.accepted + first.duplicates, rejected: first.rejected });
      for (const error of first.rejected) codes.add(error.code);
      const cluster = batch.sender.cluster;
      accepted.set(cluster, accepted.get(cluster)! + first.accepted);
    }
  }
  for (const { cluster } of senders) {
    assert.equal(await storedCount(harness.sql, harness.schema, cluster), accepted.get(cluster), cluster);
  }
  // The batches were hostile enough to be refused in part, and benign enough to store some rows.
  assert.ok([...accepted.values()].every((n) => n > 0), JSON.stringify([...accepted]));
  return codes;
}

Deno.test("POST /v1/events never answers 5xx for hostile values at any field of real events (the handler's own table)", async () => {
  await withApp(async (harness) => {
    const codes = await sendHostileBatches(harness, 1);
    for (const code of ["INVALID_FIELD", "INVALID_TIMESTAMP", "MISSING_FIELD"]) assert.ok(codes.has(code), code);
  });
});

Deno.test("POST /v1/events never answers 5xx for hostile values at any field of real events (strict Krateo table with rules it does not know)", async () => {
  await withApp(
    async (harness) => {
      await addRefusingRules(harness.sql, harness.schema);
      await harness.sql.unsafe(
        `alter table "${harness.schema}".k8s_events add constraint event_type_known
         check (event_type in ('Normal', 'Warning'))`,
      );
      const codes = await sendHostileBatches(harness, 2);
      // Values the strict table refuses reached PostgreSQL and were isolated, others were caught while reading.
      for (const code of ["ROW_REFUSED", "MISSING_FIELD", "INVALID_TIMESTAMP"]) assert.ok(codes.has(code), code);
    },
    {},
    { beforeMigrate: applyStrictKrateoSchema },
  );
});
