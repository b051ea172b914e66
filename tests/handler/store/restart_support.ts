/**
 * Helpers for the tests that kill the store's connections mid-transaction: a recorder of uncaught errors and
 * unhandled rejections, a finder for the store's backend by what it is doing, and a row source that stops between
 * two chunks until the test lets it go on.
 */
import type postgres from "postgres";
import type { EventRow } from "../../../shared/contract/event_row.ts";

/** Uncaught errors and unhandled rejections seen while recording; they are kept from failing the test by themselves. */
export interface UncaughtRecorder {
  errors: string[];
  stop(): void;
}

/** Starts recording uncaught errors (such as a TypeError thrown from a timer) and unhandled rejections. */
export function recordUncaught(): UncaughtRecorder {
  const errors: string[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    errors.push(`error: ${String(event.error)}`);
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    errors.push(`unhandled rejection: ${String(event.reason)}`);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return {
    errors,
    stop() {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    },
  };
}

/**
 * Polls pg_stat_activity until a handler backend (application_name events-ingester) runs a statement mentioning
 * `schema` and matching `condition` (SQL over pg_stat_activity's columns); returns its pid.
 */
export async function waitForBackend(
  sql: postgres.Sql,
  options: { schema: string; condition: string; timeoutMs?: number },
): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    const rows = await sql.unsafe<{ pid: number }[]>(
      `select pid from pg_stat_activity
        where application_name = 'events-ingester' and pid <> pg_backend_pid()
          and position($1 in query) > 0 and (${options.condition})`,
      [options.schema],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Cannot find the store's backend: none matched ${options.condition} within the timeout`);
}

/** Terminates a backend; true when PostgreSQL signalled it. */
export async function terminateBackend(sql: postgres.Sql, pid: number): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`select pg_terminate_backend(${pid}) as ok`;
  return row?.ok === true;
}

/** A streamed batch's rows: the first chunk at once, the second only after `release()`. */
export interface GatedSource {
  rows: AsyncIterable<readonly EventRow[]>;
  release(): void;
}

/** Yields `first`, waits for `release()`, then yields `second`. */
export function gatedSource(first: readonly EventRow[], second: readonly EventRow[]): GatedSource {
  let release = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  async function* rows(): AsyncGenerator<readonly EventRow[]> {
    yield first;
    await gate;
    yield second;
  }
  return { rows: rows(), release: () => release() };
}
