import assert from "node:assert/strict";
import type { EventRow } from "../../../../shared/contract/event_row.ts";
import { isolateRefusedRows } from "../../../../handler/store/write/row_isolation.ts";
import { RowRefusalsExceededError } from "../../../../handler/store/store.ts";
import { makeRow } from "../store_support.ts";

/** A check violation, as postgres.js reports one. */
function checkViolation(): Error {
  return Object.assign(new Error("new row violates check constraint"), {
    code: "23514",
    constraint_name: "no_bad_rows",
  });
}

/** A writer that refuses any part holding a row of `bad`, and records each part written whole. */
function fakeTable(bad: ReadonlySet<EventRow>) {
  const stored: EventRow[] = [];
  let writes = 0;
  return {
    stored,
    get writes() {
      return writes;
    },
    write(rows: readonly EventRow[]): Promise<number> {
      writes++;
      if (rows.some((row) => bad.has(row))) return Promise.reject(checkViolation());
      stored.push(...rows);
      return Promise.resolve(rows.length);
    },
  };
}

const REASON = 'SQLSTATE 23514 check_violation, constraint "no_bad_rows"';

/** The bound of row_isolation.ts: 2·k·⌈log2 n⌉ writes for k refused rows among n. */
const boundOf = (k: number, n: number) => 2 * k * Math.ceil(Math.log2(n));

Deno.test("isolateRefusedRows finds one refused row at every position of batches of 2 to 33 rows within the bound", async () => {
  for (let n = 2; n <= 33; n++) {
    const rows = Array.from({ length: n }, (_, i) => makeRow("c", i));
    for (let at = 0; at < n; at++) {
      const table = fakeTable(new Set([rows[at]!]));
      const result = await isolateRefusedRows(rows, checkViolation(), { write: table.write, refusalsMax: 10 });
      assert.deepEqual(result.refused, [{ row: rows[at], reason: REASON }], `n ${n}, at ${at}`);
      assert.equal(result.inserted, n - 1);
      assert.deepEqual(table.stored.sort((a, b) => a.uid.localeCompare(b.uid)), rows.filter((_, i) => i !== at));
      assert.equal(result.writes, table.writes);
      assert.ok(result.writes <= boundOf(1, n), `n ${n}, at ${at}: ${result.writes} writes`);
    }
  }
});

Deno.test("isolateRefusedRows finds k scattered refused rows among 5,000 within 2·k·⌈log2 n⌉ writes", async () => {
  const rows = Array.from({ length: 5_000 }, (_, i) => makeRow("c", i));
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  for (const k of [1, 2, 7, 20, 64]) {
    const positions = new Set<number>([0, 4_999]);
    while (positions.size < k) positions.add(Math.floor(random() * 5_000));
    const bad = [...positions].slice(0, k).sort((a, b) => a - b);
    const table = fakeTable(new Set(bad.map((i) => rows[i]!)));
    const result = await isolateRefusedRows(rows, checkViolation(), { write: table.write, refusalsMax: 100 });
    assert.deepEqual(result.refused.map(({ row }) => rows.indexOf(row)), bad, `k ${k}`);
    assert.equal(result.inserted, 5_000 - k);
    assert.equal(table.stored.length, 5_000 - k);
    assert.ok(result.writes <= boundOf(k, 5_000), `k ${k}: ${result.writes} writes, bound ${boundOf(k, 5_000)}`);
  }
});

Deno.test("isolateRefusedRows refuses a row only when it fails alone", async () => {
  const rows = Array.from({ length: 6 }, (_, i) => makeRow("c", i));
  // The batch failed as a whole, but every part succeeds (a refusal that depended on the rows written together).
  const table = fakeTable(new Set());
  const result = await isolateRefusedRows(rows, checkViolation(), { write: table.write, refusalsMax: 10 });
  assert.deepEqual([result.refused, result.inserted, table.stored.length], [[], 6, 6]);
});

Deno.test("isolateRefusedRows refuses a single-row batch with the reason of its failure, without writing", async () => {
  const row = makeRow("c", 1);
  const table = fakeTable(new Set([row]));
  const result = await isolateRefusedRows([row], checkViolation(), { write: table.write, refusalsMax: 10 });
  assert.deepEqual(result, { inserted: 0, refused: [{ row, reason: REASON }], writes: 0 });
});

Deno.test("isolateRefusedRows rethrows a failure that is not a row refusal at once", async () => {
  const rows = Array.from({ length: 8 }, (_, i) => makeRow("c", i));
  const lockTimeout = Object.assign(new Error("canceling statement due to lock timeout"), { code: "55P03" });
  let writes = 0;
  await assert.rejects(
    isolateRefusedRows(rows, checkViolation(), {
      write: () => {
        writes++;
        return Promise.reject(lockTimeout);
      },
      refusalsMax: 10,
    }),
    (error: unknown) => error === lockTimeout,
  );
  assert.equal(writes, 1);
});

Deno.test("isolateRefusedRows stops with RowRefusalsExceededError at refusal refusalsMax + 1", async () => {
  const rows = Array.from({ length: 100 }, (_, i) => makeRow("c", i));
  const table = fakeTable(new Set(rows.filter((_, i) => i % 10 === 3)));
  await assert.rejects(isolateRefusedRows(rows, checkViolation(), { write: table.write, refusalsMax: 4 }), {
    name: "RowRefusalsExceededError",
    message:
      `Cannot store the batch: the database refused more than 4 of its rows (ROW_REFUSALS_MAX); the last: ${REASON}`,
  });
  assert.ok(new RowRefusalsExceededError("x") instanceof Error);
  // Every row refused: at most 2·(refusalsMax + 1)·⌈log2 n⌉ writes before it stops.
  const everyRow = fakeTable(new Set(rows));
  await assert.rejects(
    isolateRefusedRows(rows, checkViolation(), { write: everyRow.write, refusalsMax: 4 }),
    RowRefusalsExceededError,
  );
  assert.ok(everyRow.writes <= boundOf(5, 100), `${everyRow.writes} writes`);
});
