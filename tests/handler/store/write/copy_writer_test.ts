import assert from "node:assert/strict";
import { settleCopy } from "../../../../handler/store/write/copy_writer.ts";

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
