import assert from "node:assert/strict";
import type postgres from "postgres";
import type { IngestResponse } from "../../../../shared/contract/protocol.ts";
import type { EventRecord } from "../../../../shared/contract/records.ts";
import { assertProblem, CLUSTER, countRows, eventRecord, ndjson, post, TOKEN, uidOf, withApp } from "../app_harness.ts";
import {
  addRefusingRules,
  applyStrictKrateoSchema,
  incompressibleMessage,
  POISON_FUNCTION,
  REASON_CHECK,
} from "../../store/refusal_support.ts";

type Event = Record<string, unknown> & { involvedObject: Record<string, unknown>; metadata: Record<string, unknown> };

/** A fresh valid record with `change` applied to its event. */
function eventWith(change: (event: Event) => void): EventRecord {
  const record = eventRecord();
  change(record.event as Event);
  return record;
}

const RESUME = { headers: { "ingester-resume-version": "4242" } };

async function checkpointOf(sql: postgres.Sql, schema: string): Promise<string | undefined> {
  const [row] = await sql.unsafe(`select resume_version from "${schema}".ingester_checkpoints where cluster = $1`, [
    CLUSTER,
  ]);
  return row?.resume_version;
}

async function storedUids(sql: postgres.Sql, schema: string): Promise<string[]> {
  const rows = await sql.unsafe(`select uid from "${schema}".k8s_events order by uid`);
  return rows.map((row) => row.uid as string);
}

Deno.test("POST /v1/events rejects, on the strict Krateo table, events lacking a NOT NULL column's field with MISSING_FIELD and stores the rest", async () => {
  await withApp(
    async ({ app, sql, schema }) => {
      const valid = eventRecord();
      const lines = [
        valid,
        { ...valid, event: { ...valid.event, type: undefined } },
        eventWith((event) => delete event.involvedObject.name),
        eventWith((event) => {
          delete event.metadata.namespace;
          delete event.involvedObject.namespace;
        }),
        eventWith((event) => (event.involvedObject.kind = "")),
        eventWith((event) => delete event.involvedObject.namespace),
      ];
      const result = await post(app, ndjson(lines), RESUME);
      assert.equal(result.status, 200, JSON.stringify(result.body));
      const missing = (line: number, field: string, column: string) => ({
        line,
        code: "MISSING_FIELD" as const,
        message:
          `Cannot store line ${line}: field ${field} is missing or empty, and column ${column} of k8s_events is NOT NULL`,
      });
      assert.deepEqual(
        result.body,
        {
          accepted: 2,
          duplicates: 0,
          rejected: [
            missing(2, "event.type", "event_type"),
            missing(3, "event.involvedObject.name", "resource_name"),
            missing(4, "event.metadata.namespace (else event.involvedObject.namespace)", "namespace"),
            missing(5, "event.involvedObject.kind", "resource_kind"),
          ],
        } satisfies IngestResponse,
      );
      assert.deepEqual(await storedUids(sql, schema), [uidOf(valid), uidOf(lines[5] as EventRecord)].sort());
      assert.equal(await checkpointOf(sql, schema), "4242");
    },
    {},
    { beforeMigrate: applyStrictKrateoSchema },
  );
});

Deno.test("POST /v1/events stores the same events on the handler's own table, which requires none of those fields", async () => {
  await withApp(async ({ app, sql, schema }) => {
    const valid = eventRecord();
    const lines = [
      valid,
      { ...valid, event: { ...valid.event, type: undefined } },
      eventWith((event) => delete event.involvedObject.name),
      eventWith((event) => {
        delete event.metadata.namespace;
        delete event.involvedObject.namespace;
      }),
    ];
    const result = await post(app, ndjson(lines));
    assert.deepEqual(result.body, { accepted: 3, duplicates: 1, rejected: [] } satisfies IngestResponse);
    assert.equal(await countRows(sql, schema), 3);
  });
});

/** Lines (1-based) of the 5,000-line batch that the added rules refuse, with the reason each gets. */
function refusedLinesOf(schema: string): Map<number, { change: (event: Event) => void; reason: string }> {
  return new Map([
    [1, { change: (event) => delete event.reason, reason: 'SQLSTATE 23502 not_null_violation, column "reason"' }],
    [2, {
      change: (event) => (event.reason = "Forbidden"),
      reason: `SQLSTATE 23514 check_violation, constraint "${REASON_CHECK}"`,
    }],
    [2_500, {
      change: (event) => (event.message = "a poison pill"),
      reason: `SQLSTATE P0001 raise_exception, raised in function ${schema}.${POISON_FUNCTION}`,
    }],
    [2_501, {
      change: (event) => (event.involvedObject.name = "n".repeat(64)),
      reason: "SQLSTATE 22001 string_data_right_truncation",
    }],
    [3_334, {
      change: (event) => (event.message = incompressibleMessage()),
      reason: 'SQLSTATE 54000 program_limit_exceeded, constraint "k8s_events_2026_11_20_message_idx"',
    }],
    [4_999, { change: (event) => delete event.reason, reason: 'SQLSTATE 23502 not_null_violation, column "reason"' }],
    [5_000, {
      change: (event) => (event.message = "poison again"),
      reason: `SQLSTATE P0001 raise_exception, raised in function ${schema}.${POISON_FUNCTION}`,
    }],
  ]);
}

const TABLES = [
  { name: "the handler's own table", beforeMigrate: undefined },
  { name: "the strict Krateo table", beforeMigrate: applyStrictKrateoSchema },
];

for (const table of TABLES) {
  Deno.test(`POST /v1/events rejects exactly the 7 lines of 5,000 the table refuses, with ROW_REFUSED, and stores the rest once (${table.name})`, async () => {
    await withApp(
      async ({ app, sql, schema }) => {
        await addRefusingRules(sql, schema);
        const refused = refusedLinesOf(schema);
        const lines: (EventRecord | string)[] = Array.from({ length: 5_000 }, (_, i) => {
          const bad = refused.get(i + 1);
          return bad ? eventWith(bad.change) : eventRecord();
        });
        lines[999] = "{not json";
        const body = ndjson(lines);
        const expected = [
          ...[...refused].map(([line, { reason }]) => ({
            line,
            code: "ROW_REFUSED",
            message: `Cannot store line ${line}: the database refused the row (${reason})`,
          })),
          { line: 1_000, code: "INVALID_JSON", message: "" },
        ].sort((a, b) => a.line - b.line);
        const withoutJsonMessage = (rejected: { line: number; code: string; message: string }[]) =>
          rejected.map((error) => error.code === "INVALID_JSON" ? { ...error, message: "" } : error);

        const first = await post(app, body, RESUME);
        assert.equal(first.status, 200, JSON.stringify(first.body).slice(0, 2_000));
        const answer = first.body as unknown as IngestResponse;
        assert.deepEqual([answer.accepted, answer.duplicates], [4_992, 0]);
        assert.deepEqual(withoutJsonMessage(answer.rejected), expected);
        const goodUids = lines.filter((line, i) => typeof line !== "string" && !refused.has(i + 1))
          .map((line) => uidOf(line as EventRecord)).sort();
        assert.deepEqual(await storedUids(sql, schema), goodUids);
        assert.equal(await checkpointOf(sql, schema), "4242");

        // The relay's retry of the same batch: every stored line is a duplicate, the refused ones refused again.
        const again = await post(app, body, { headers: { "ingester-resume-version": "4243" } });
        assert.equal(again.status, 200, JSON.stringify(again.body).slice(0, 2_000));
        const second = again.body as unknown as IngestResponse;
        assert.deepEqual([second.accepted, second.duplicates], [0, 4_992]);
        assert.deepEqual(withoutJsonMessage(second.rejected), expected);
        assert.equal(await countRows(sql, schema), 4_992);
        assert.equal(await checkpointOf(sql, schema), "4243");
      },
      {},
      { beforeMigrate: table.beforeMigrate },
    );
  });
}

Deno.test("POST /v1/events rejects every repeat of a refused line within the request with ROW_REFUSED", async () => {
  await withApp(async ({ app, sql, schema }) => {
    await addRefusingRules(sql, schema);
    const bad = eventWith((event) => (event.reason = "Forbidden"));
    const good = eventRecord();
    const result = await post(app, ndjson([bad, good, bad, good]));
    const message = (line: number) =>
      `Cannot store line ${line}: the database refused the row (SQLSTATE 23514 check_violation, constraint ` +
      `"${REASON_CHECK}")`;
    assert.deepEqual(
      result.body,
      {
        accepted: 1,
        duplicates: 1,
        rejected: [
          { line: 1, code: "ROW_REFUSED", message: message(1) },
          { line: 3, code: "ROW_REFUSED", message: message(3) },
        ],
      } satisfies IngestResponse,
    );
  });
});

Deno.test("POST /v1/events answers 413 TOO_MANY_ROWS_REFUSED past ROW_REFUSALS_MAX, storing nothing", async () => {
  await withApp(async ({ app, sql, schema }) => {
    await addRefusingRules(sql, schema);
    const forbidden = () => eventWith((event) => (event.reason = "Forbidden"));
    const lines = [eventRecord(), forbidden(), eventRecord(), forbidden(), forbidden(), eventRecord()];
    const refusedWhole = await post(app, ndjson(lines), RESUME);
    assertProblem(refusedWhole, 413, "TOO_MANY_ROWS_REFUSED");
    assert.equal(
      refusedWhole.body.detail,
      "Cannot store the batch: the database refused more than 2 of its rows (ROW_REFUSALS_MAX); the last: " +
        `SQLSTATE 23514 check_violation, constraint "${REASON_CHECK}"; nothing was written, send the batch in ` +
        "smaller parts",
    );
    assert.equal(await countRows(sql, schema), 0);
    assert.equal(await checkpointOf(sql, schema), undefined);
    // The relay then sends halves: each holds at most 2 refused rows and is stored.
    for (const half of [lines.slice(0, 3), lines.slice(3)]) {
      const result = await post(app, ndjson(half), { token: TOKEN });
      assert.equal(result.status, 200, JSON.stringify(result.body));
    }
    assert.equal(await countRows(sql, schema), 3);
  }, { ROW_REFUSALS_MAX: "2" });
});
