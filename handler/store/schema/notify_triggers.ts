/**
 * Which channels the triggers on `k8s_events` notify, read from their functions' source: `pg_notify('<channel>', …)`
 * calls and `NOTIFY <channel>` statements. A trigger that notifies another channel, or computes its channel, does not
 * count as announcing rows on `events`.
 */
import { EVENTS_TABLE } from "./partitions.ts";
import { quoteIdentifier, type SqlRunner } from "./sql_runner.ts";

/** pg_trigger.tgtype bit of a trigger that fires on INSERT. */
const TRIGGER_TYPE_INSERT = 1 << 2;

/** `-- …` to the line end and `/* … *\/` blocks, which may mention a channel without notifying it. */
const SQL_COMMENT = /--[^\n]*|\/\*[\s\S]*?\*\//g;
/** `pg_notify(` followed by a string literal: the channel, taken as written (pg_notify does not fold case). */
const PG_NOTIFY_CALL = /\bpg_notify\s*\(\s*'((?:[^']|'')*)'/gi;
/** A `NOTIFY` statement and its channel identifier, quoted (taken as written) or not (folded to lower case). */
const NOTIFY_STATEMENT = /(?<![\w$])notify\s+(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))/gi;

/**
 * The channels a PL/pgSQL (or SQL) function body notifies with a literal channel name, sorted, each once. Comments
 * are ignored; a channel computed at run time (`pg_notify(TG_ARGV[0], …)`) is not seen.
 */
export function toNotifiedChannels(source: string): string[] {
  const code = source.replace(SQL_COMMENT, " ");
  const channels = new Set<string>();
  for (const match of code.matchAll(PG_NOTIFY_CALL)) channels.add(match[1]!.replaceAll("''", "'"));
  for (const match of code.matchAll(NOTIFY_STATEMENT)) {
    channels.add(match[1] !== undefined ? match[1].replaceAll('""', '"') : match[2]!.toLowerCase());
  }
  return [...channels].sort();
}

/** A trigger on `k8s_events` that fires on INSERT, with its function's source. */
export interface InsertTrigger {
  name: string;
  source: string;
}

/** The triggers defined on `k8s_events` itself (not their clones on its partitions) that fire on INSERT. */
export async function listInsertTriggers(runner: SqlRunner, options: { schema: string }): Promise<InsertTrigger[]> {
  return await runner.query<InsertTrigger & Record<string, unknown>>(
    `select t.tgname as "name", p.prosrc as "source" from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = to_regclass($1) and not t.tgisinternal and (t.tgtype & $2) <> 0
      order by t.tgname`,
    [`${quoteIdentifier(options.schema)}.${EVENTS_TABLE}`, TRIGGER_TYPE_INSERT],
  );
}

/** True when a trigger on `k8s_events` that fires on INSERT notifies `channel`. */
export async function hasTriggerNotifying(
  runner: SqlRunner,
  options: { schema: string; channel: string },
): Promise<boolean> {
  const triggers = await listInsertTriggers(runner, options);
  return triggers.some((trigger) => toNotifiedChannels(trigger.source).includes(options.channel));
}
