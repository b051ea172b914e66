import assert from "node:assert/strict";
import type { Writable } from "node:stream";
import type postgres from "postgres";
import type { EventRow } from "../../../../shared/contract/event_row.ts";
import { COPY_COLUMNS } from "../../../../handler/store/write/copy_encoding.ts";
import { openCopy, settleCopy } from "../../../../handler/store/write/copy_writer.ts";
import { EVENT_COLUMNS } from "../../../../handler/store/schema/migrations.ts";
import { withTestSchema } from "../../../support/database.ts";
import { makeRow } from "../store_support.ts";

const aborted = () => Object.assign(new Error("current transaction is aborted"), { code: "25P02" });

Deno.test("settleCopy returns the next statement's result once the COPY finished", async () => {
  assert.equal(await settleCopy(Promise.resolve(), Promise.resolve(42)), 42);
});

Deno.test("settleCopy throws the COPY's own error when the next statement reports first that the transaction aborted", async () => {
  const refused = Object.assign(new Error("violates check constraint"), { code: "23514" });
  const finished = new Promise<void>((_, reject) => queueMicrotask(() => queueMicrotask(() => reject(refused))));
  await assert.rejects(settleCopy(finished, Promise.reject(aborted())), (error: unknown) => error === refused);
});

Deno.test("settleCopy throws the next statement's error when the COPY's completion does not settle", async () => {
  const next = aborted();
  await assert.rejects(
    settleCopy(new Promise<void>(() => {}), Promise.reject(next)),
    (error: unknown) => error === next,
  );
  const other = Object.assign(new Error("lock timeout"), { code: "55P03" });
  await assert.rejects(settleCopy(Promise.resolve(), Promise.reject(other)), (error: unknown) => error === other);
});

/** Rows whose values hold everything COPY text must escape or carry byte for byte, one of them over 1 MB. */
function hostileRows(prefix: string): EventRow[] {
  const long = "é🎉€".repeat(100_000);
  return [
    makeRow(prefix, 1, { message: "tab\there\nnew line\r\nCRLF back\\slash \\N ü 🎉", namespace: "\\N" }),
    makeRow(prefix, 2, {
      resourceName: null,
      message: long,
      raw: `{"note":"${long}","quote":"say \\"hi\\"\\n\\t\\\\","n":1.50,"big":12345678901234567890}`,
    }),
    makeRow(prefix, 3, { reason: "\\", eventType: "\t", compositionId: "0f1e2d3c-4b5a-4697-8899-aabbccddeeff" }),
    ...Array.from({ length: 500 }, (_, i) => makeRow(prefix, 100 + i)),
  ];
}

/** COPYs the rows in two writes on a connection of its own; a statement pipelined after it reports a refusal. */
async function copyInto(sql: postgres.Sql, table: string, rows: readonly EventRow[]): Promise<void> {
  const connection = await sql.reserve();
  try {
    const copy = await openCopy(() =>
      connection.unsafe(`copy ${table} (${COPY_COLUMNS.join(", ")}) from stdin`).writable() as Promise<Writable>
    );
    await copy.write(rows.slice(0, 2));
    await copy.write(rows.slice(2));
    const { finished } = await copy.end();
    await settleCopy(finished, connection.unsafe("select 1"));
  } finally {
    connection.release();
  }
}

Deno.test("openCopy stores every value as sent through a real COPY, two COPYs at once", async () => {
  await withTestSchema(async (schema, sql) => {
    const columns = EVENT_COLUMNS.map((c) => `${c.name} ${c.type}${c.isRequired ? " not null" : ""}`).join(", ");
    const table = `"${schema}".copied`;
    await sql.unsafe(`create table ${table} (${columns})`);
    const batches = [hostileRows("a"), hostileRows("b")];
    await Promise.all(batches.map((rows) => copyInto(sql, table, rows)));
    const stored = await sql.unsafe<Record<string, string | null>[]>(
      `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at,
              ${COPY_COLUMNS.filter((c) => c !== "created_at" && c !== "raw").join(", ")}, raw::text as raw
         from ${table} order by global_uid`,
    );
    const expected = batches.flat().sort((x, y) => x.globalUid < y.globalUid ? -1 : 1);
    assert.equal(stored.length, expected.length);
    stored.forEach((row, i) => {
      const want = expected[i]!;
      assert.deepEqual(
        { ...row, raw: JSON.parse(row.raw!) },
        {
          created_at: want.createdAt,
          cluster_name: want.clusterName,
          uid: want.uid,
          global_uid: want.globalUid,
          namespace: want.namespace,
          resource_kind: want.resourceKind,
          resource_name: want.resourceName,
          involved_object_uid: want.involvedObjectUid,
          event_type: want.eventType,
          reason: want.reason,
          message: want.message,
          composition_id: want.compositionId,
          resource_version: want.resourceVersion,
          raw: JSON.parse(want.raw),
        },
      );
    });
    const [numbers] = await sql.unsafe(
      `select raw->>'n' as n, raw->>'big' as big, raw->>'quote' as quote from ${table} where uid = $1 limit 1`,
      [expected.find((row) => row.resourceName === null)!.uid],
    );
    assert.deepEqual(numbers, { n: "1.50", big: "12345678901234567890", quote: 'say "hi"\n\t\\' });
  });
});
