/**
 * CPU time used by a PostgreSQL server running on this machine, read from /proc: the postmaster's own time, the
 * time of its children that have exited (cutime, cstime) and that of every child still running (backends,
 * checkpointer, WAL writer, autovacuum). For a server on another machine there is nothing to read (null).
 */
import type postgres from "postgres";

/** /proc counts CPU time in clock ticks of 10 ms. */
const TICK_MS = 10;

/** The fields of /proc/<pid>/stat after the command name: state is [0], ppid [1], utime [11] ... cstime [14]. */
function readStatFields(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined; // the process has exited
    throw error;
  }
}

/** The postmaster of the server `sql` talks to, when it runs on this machine; undefined otherwise. */
export async function findPostmasterPid(sql: postgres.Sql): Promise<number | undefined> {
  const [row] = await sql.unsafe<{ pid: number }[]>("select pg_backend_pid() as pid");
  const backend = row === undefined ? undefined : readStatFields(row.pid);
  if (backend === undefined) return undefined;
  const parent = Number(backend[1]);
  // For a server elsewhere, a process with the backend's pid here is an unrelated one.
  try {
    const command = Deno.readTextFileSync(`/proc/${parent}/comm`).trim();
    return /^(postgres|postmaster)$/.test(command) ? parent : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** CPU time in ms the server has used so far (see the file comment); undefined when the postmaster is gone. */
export function readPostgresCpuMs(postmasterPid: number): number | undefined {
  const own = readStatFields(postmasterPid);
  if (own === undefined) return undefined;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = readStatFields(Number(entry.name));
    if (fields !== undefined && Number(fields[1]) === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}
