/**
 * Per-cluster state beside the events, in the handler's own tables: the writer fence, the resume
 * point (stored in the same transaction as the batch it follows) and gap records. Every function runs inside the caller's transaction.
 */
import type { CheckpointResponse, Fence } from "../../shared/contract/protocol.ts";
import type { GapRecord } from "../../shared/contract/records.ts";
import { FencedError } from "./store.ts";
import { CHECKPOINTS_TABLE, FENCES_TABLE, GAPS_TABLE } from "./schema/migrations.ts";
import { quoteIdentifier, type SqlRunner, type SqlValue } from "./schema/sql_runner.ts";

/**
 * Records `fence` as the cluster's newest writer when it is newer than (more transitions) or the same as the
 * stored one, and locks the cluster's fence row until the transaction ends. Throws FencedError, carrying the
 * newest fence, for fewer transitions or the same transitions with another holder.
 */
export async function checkFence(
  runner: SqlRunner,
  options: { schema: string; cluster: string; fence: Fence },
): Promise<void> {
  const { cluster, fence } = options;
  const table = `${quoteIdentifier(options.schema)}.${FENCES_TABLE}`;
  const accepted = await runner.query(
    `insert into ${table} as f (cluster, holder, transitions) values ($1, $2, $3::bigint)
       on conflict (cluster) do update
          set holder = excluded.holder, transitions = excluded.transitions, updated_at = now()
        where f.transitions < excluded.transitions
           or (f.transitions = excluded.transitions and f.holder = excluded.holder)
       returning 1 as ok`,
    [cluster, fence.holder, fence.transitions],
  );
  if (accepted.length > 0) return;
  const rows = await runner.query<{ holder: string; transitions: number }>(
    `select holder, transitions::float8 as transitions from ${table} where cluster = $1`,
    [cluster],
  );
  const newest = { holder: String(rows[0]?.holder), transitions: Number(rows[0]?.transitions) };
  throw new FencedError(
    `Cannot write batch of cluster ${cluster}: writer ${fence.holder} at transition ${fence.transitions}` +
      ` is older than ${newest.holder} at transition ${newest.transitions}`,
    newest,
  );
}

/** Stores the gap records, skipping any already stored (a replayed batch); returns how many were new. */
export async function insertGaps(runner: SqlRunner, options: { schema: string; gaps: readonly GapRecord[] }) {
  if (options.gaps.length === 0) return 0;
  const params: SqlValue[] = [];
  const tuples = options.gaps.map((gap) => {
    const n = params.push(gap.cluster, gap.from, gap.to, gap.reason, gap.observedAt);
    return `($${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n}::timestamptz)`;
  });
  const rows = await runner.query(
    `insert into ${
      quoteIdentifier(options.schema)
    }.${GAPS_TABLE} (cluster, from_version, to_version, reason, observed_at)
       values ${tuples.join(", ")} on conflict do nothing returning 1 as ok`,
    params,
  );
  return rows.length;
}

/** Sets the cluster's resume point. */
export async function upsertCheckpoint(
  runner: SqlRunner,
  options: { schema: string; cluster: string; resumeVersion: string },
): Promise<void> {
  await runner.query(
    `insert into ${quoteIdentifier(options.schema)}.${CHECKPOINTS_TABLE} (cluster, resume_version) values ($1, $2)
       on conflict (cluster) do update set resume_version = excluded.resume_version, updated_at = now()`,
    [options.cluster, options.resumeVersion],
  );
}

/** The cluster's resume point and newest fence; nulls when it has written neither. */
export async function readCheckpoint(
  runner: SqlRunner,
  options: { schema: string; cluster: string },
): Promise<CheckpointResponse> {
  const schema = quoteIdentifier(options.schema);
  const rows = await runner.query(
    `select c.resume_version, f.holder, f.transitions::float8 as transitions,
            greatest(c.updated_at, f.updated_at) as updated_at
       from (select $1::text as cluster) k
       left join ${schema}.${CHECKPOINTS_TABLE} c on c.cluster = k.cluster
       left join ${schema}.${FENCES_TABLE} f on f.cluster = k.cluster`,
    [options.cluster],
  );
  const row = rows[0];
  return {
    cluster: options.cluster,
    resumeVersion: typeof row?.resume_version === "string" ? row.resume_version : null,
    fence: typeof row?.holder === "string" ? { holder: row.holder, transitions: Number(row.transitions) } : null,
    updatedAt: row?.updated_at instanceof Date ? row.updated_at.toISOString() : null,
  };
}
