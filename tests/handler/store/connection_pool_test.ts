import assert from "node:assert/strict";
import type postgres from "postgres";
import { testDatabaseUrl, withTestSchema } from "../../support/database.ts";
import { type ConnectionPool, createConnectionPool } from "../../../handler/store/connection_pool.ts";
import { ConnectionClosedError, isTransientDatabaseError } from "../../../handler/store/database_errors.ts";
import { createPostgresConnection } from "../../../handler/store/postgres_store.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { recordUncaught } from "./restart_support.ts";

function openPool(connectionsMax: number, logs: string[] = []): ConnectionPool {
  return createConnectionPool({
    connect: () => createPostgresConnection({ url: testDatabaseUrl(), connectTimeoutS: 3 }),
    connectionsMax,
    closeTimeoutS: 1,
    logger: createLogger({ isDebug: false, write: (line) => logs.push(line) }),
  });
}

async function backendPid(pool: ConnectionPool): Promise<number> {
  return await pool.begin(async (session) => {
    const [row] = await session.query<{ pid: number }>("select pg_backend_pid() as pid");
    return row?.pid ?? -1;
  });
}

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Cannot see ${what} within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function withTable(fn: (table: string, sql: postgres.Sql) => Promise<void>): Promise<void> {
  await withTestSchema(async (schema, sql) => {
    const table = `"${schema}".items`;
    await sql.unsafe(`create table ${table} (n int primary key)`);
    await fn(table, sql);
  });
}

Deno.test("PostgresConnection refuses statements with ConnectionClosedError once its backend is gone, without an uncaught error", async () => {
  const uncaught = recordUncaught();
  const connection = createPostgresConnection({ url: testDatabaseUrl(), connectTimeoutS: 3 });
  const killer = openPool(1);
  try {
    const [row] = await connection.query<{ pid: number }>("select pg_backend_pid() as pid");
    assert.equal(connection.isOpen, true);
    await killer.query("select pg_terminate_backend($1)", [row?.pid ?? -1]);
    await waitUntil("the socket close", () => !connection.isOpen);
    for (const attempt of [() => connection.execute("rollback"), () => connection.query("select 1")]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof ConnectionClosedError);
        assert.equal(error.code, "CONNECTION_CLOSED");
        assert.equal(error.message, "Cannot send the statement: its socket closed");
        return true;
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
    await connection.close({ timeoutS: 0 });
    await killer.close();
  }
});

Deno.test("ConnectionPool replaces a connection whose backend was terminated while idle", async () => {
  const pool = openPool(1);
  const killer = openPool(1);
  try {
    const first = await backendPid(pool);
    assert.equal(await backendPid(pool), first);
    await terminateBackendOf(killer, first);
    // Lets the server's close reach the idle socket, as it does long before the next batch in practice.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await backendPid(pool);
    assert.notEqual(second, first);
  } finally {
    await pool.close();
    await killer.close();
  }
});

async function terminateBackendOf(pool: ConnectionPool, pid: number): Promise<void> {
  const [row] = await pool.query<{ ok: boolean }>("select pg_terminate_backend($1) as ok", [pid]);
  assert.equal(row?.ok, true);
}

Deno.test("ConnectionPool.begin rolls back when the body throws, rethrows its error and keeps the connection", async () => {
  await withTable(async (table, sql) => {
    const pool = openPool(1);
    try {
      const pid = await backendPid(pool);
      const failure = new RangeError("Cannot go on: test failure");
      await assert.rejects(
        pool.begin(async (session) => {
          await session.execute(`insert into ${table} values (1)`);
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.deepEqual([...await sql.unsafe(`select n from ${table}`)], []);
      assert.equal(await backendPid(pool), pid);
    } finally {
      await pool.close();
    }
  });
});

Deno.test("ConnectionPool savepoint rolls back to the savepoint and the transaction commits the rest", async () => {
  await withTable(async (table, sql) => {
    const pool = openPool(1);
    try {
      const result = await pool.begin(async (session) => {
        await session.execute(`insert into ${table} values (1)`);
        await assert.rejects(
          session.savepoint(async (inner) => {
            await inner.execute(`insert into ${table} values (2)`);
            await inner.execute(`insert into ${table} values (1)`);
          }),
          (error: unknown) => (error as { code?: string }).code === "23505",
        );
        return await session.execute(`insert into ${table} values (3)`);
      });
      assert.equal(result, 1);
      const rows = await sql.unsafe<{ n: number }[]>(`select n from ${table} order by n`);
      assert.deepEqual(rows.map((row) => row.n), [1, 3]);
    } finally {
      await pool.close();
    }
  });
});

Deno.test("ConnectionPool refuses a statement sent through a session after its transaction ended", async () => {
  const pool = openPool(1);
  try {
    let kept: { execute(text: string): Promise<number> } | undefined;
    await pool.begin(async (session) => {
      kept = session;
      return await session.execute("select 1");
    });
    assert.throws(() => kept?.execute("select 1"), {
      name: "Error",
      message: "Cannot send the statement: its transaction has ended",
    });
  } finally {
    await pool.close();
  }
});

Deno.test("ConnectionPool queues transactions beyond connectionsMax and runs them on the released connection", async () => {
  const pool = openPool(1);
  try {
    const order: string[] = [];
    const pids = await Promise.all(["a", "b", "c"].map((name) =>
      pool.begin(async (session) => {
        order.push(`${name} start`);
        const [row] = await session.query<{ pid: number }>("select pg_backend_pid() as pid, pg_sleep(0.02)");
        order.push(`${name} end`);
        return row?.pid;
      })
    ));
    assert.deepEqual(order, ["a start", "a end", "b start", "b end", "c start", "c end"]);
    assert.equal(new Set(pids).size, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("ConnectionPool.close makes later transactions fail with CONNECTION_ENDED", async () => {
  const pool = openPool(1);
  await backendPid(pool);
  await pool.close();
  await assert.rejects(pool.begin(() => Promise.resolve(1)), (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.code, "CONNECTION_ENDED");
    assert.equal(error.message, "Cannot begin a transaction: the store is closed");
    return true;
  });
});

Deno.test("ConnectionPool.begin fails with a transient error when its backend is terminated mid-transaction, then works", async () => {
  const uncaught = recordUncaught();
  const pool = openPool(1);
  const killer = openPool(1);
  try {
    const failure = await pool.begin(async (session) => {
      const [row] = await session.query<{ pid: number }>("select pg_backend_pid() as pid");
      const sleeping = session.query("select pg_sleep(5)");
      // Awaited below; the socket's close can reject it while the killer's own statement is still answering.
      sleeping.catch(() => {});
      await terminateBackendOf(killer, row?.pid ?? -1);
      return await sleeping;
    }).then(() => undefined, (error: unknown) => error);
    // 57P01 when the server's goodbye arrives first, else the socket's own error (EPIPE, ECONNRESET) or CONNECTION_CLOSED.
    assert.ok(failure instanceof Error);
    assert.equal(isTransientDatabaseError(failure), true, String((failure as { code?: string }).code));
    assert.equal(typeof await backendPid(pool), "number");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(uncaught.errors, []);
  } finally {
    uncaught.stop();
    await pool.close();
    await killer.close();
  }
});
