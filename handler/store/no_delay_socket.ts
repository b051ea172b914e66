/**
 * The TCP socket the PostgreSQL client connects through, with TCP_NODELAY set: without it a transaction that ends
 * with COPY stalls about 40 ms per commit (Nagle's algorithm against the server's delayed ACK), which cuts batched
 * COPY from about 38k to 14k rows/s.
 */
import { connect, type Socket } from "node:net";

/** Where the client asks to connect, as postgres.js passes it to its `socket` option. */
export interface SocketTarget {
  host: string[];
  port: number[];
  /** A Unix socket path; TCP_NODELAY does not apply there. */
  path?: string;
}

/**
 * Opens a socket to the first host and port of `target` (or its Unix socket `path`) with TCP_NODELAY. The socket is
 * returned while it connects (writes wait in its buffer), so a failed connect reaches the client as the socket's own
 * `error` and `close` events, which is how postgres.js cleans up and retries.
 *
 * Throws Deno.errors.NotCapable when the process may not connect there (`--allow-net` without that host): the
 * runtime would otherwise throw it on a later tick, outside any caller, and end the process without a log line.
 */
export function createNoDelaySocket(target: SocketTarget): Socket {
  if (target.path) return connect({ path: target.path });
  const host = target.host[0] ?? "localhost";
  const port = target.port[0] ?? 5432;
  if (Deno.permissions.querySync({ name: "net", host: `${host}:${port}` }).state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Cannot connect to the database at ${host}:${port}: the process may not open that connection; allow it with --allow-net`,
    );
  }
  return connect({ host, port, noDelay: true });
}
