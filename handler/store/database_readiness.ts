/**
 * Whether the database answers and holds the schema this handler needs: the poll at start (`DB_READY_TIMEOUT`) and
 * the check behind `GET /readyz`.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import { delay } from "../../shared/delay.ts";
import { StoreUnavailableError } from "./store.ts";
import { isTransientDatabaseError, toDatabaseErrorCode } from "./database_errors.ts";
import { LATEST_MIGRATION_VERSION, MIGRATIONS_TABLE } from "./schema/migrations.ts";
import { EVENTS_TABLE } from "./schema/partitions.ts";
import { quoteIdentifier, type SqlRunner } from "./schema/sql_runner.ts";

/** Milliseconds between two attempts of waitUntilDatabaseReachable. */
const REACHABLE_POLL_INTERVAL_MS = 250;

/**
 * True when the database answers within `timeoutS` and has every migration applied and `k8s_events` in `schema`.
 * Never throws: any failure is logged as a warning (with its SQLSTATE) and answered false, and the probe asks again.
 */
export async function isDatabaseReady(
  runner: SqlRunner,
  options: { schema: string; timeoutS: number; logger: Logger },
): Promise<boolean> {
  const schema = quoteIdentifier(options.schema);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const check = runner.query(
      `select coalesce(max(version), 0)::int as version, to_regclass($1) is not null as has_events
         from ${schema}.${MIGRATIONS_TABLE}`,
      [`${schema}.${EVENTS_TABLE}`],
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Cannot check readiness: no answer within ${options.timeoutS} s`)),
        options.timeoutS * 1000,
      );
    });
    const rows = await Promise.race([check, timeout]);
    return Number(rows[0]?.version) >= LATEST_MIGRATION_VERSION && rows[0]?.has_events === true;
  } catch (error) {
    // Not ready is the answer; the probe asks again, and the reason is logged for the operator.
    options.logger.warn("store not ready", { error: describeError(error), code: toDatabaseErrorCode(error) });
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `select 1` every REACHABLE_POLL_INTERVAL_MS until the database answers. Throws StoreUnavailableError when
 * `timeoutS` passes, a non-transient database error at once, and the signal's reason when it aborts.
 */
export async function waitUntilDatabaseReachable(
  runner: SqlRunner,
  options: { timeoutS: number; signal?: AbortSignal; logger: Logger },
): Promise<void> {
  const deadline = Date.now() + options.timeoutS * 1000;
  let lastError: unknown;
  while (true) {
    options.signal?.throwIfAborted();
    try {
      await runner.query("select 1");
      return;
    } catch (error) {
      if (!isTransientDatabaseError(error)) throw error;
      // Expected while the database starts; the loop retries until the deadline.
      lastError = error;
      options.logger.debug("database not reachable yet", { code: toDatabaseErrorCode(error) });
    }
    if (Date.now() + REACHABLE_POLL_INTERVAL_MS > deadline) {
      throw new StoreUnavailableError(
        `Cannot reach the database: no answer within ${options.timeoutS} s` +
          ` (${toDatabaseErrorCode(lastError) ?? "UNKNOWN"})`,
        { cause: lastError },
      );
    }
    await delay(REACHABLE_POLL_INTERVAL_MS, options.signal);
  }
}
