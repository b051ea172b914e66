/**
 * Test helper: a TCP proxy on a free loopback port in front of another address. `stop()` closes the listener and
 * every connection, so for the client behind it the server is gone (refused connections), as when the database
 * stops.
 */

/** A running proxy. */
export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1 unless another address was given). */
  port: number;
  /** Closes the listener and every open connection; safe to call more than once. */
  stop(): Promise<void>;
}

/** Starts a proxy from a free port on `options.hostname` (default 127.0.0.1) to `target`. */
export function startTcpProxy(
  target: { hostname: string; port: number },
  options: { hostname?: string } = {},
): TcpProxy {
  const listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  const pipes: Promise<void>[] = [];
  let isStopped = false;

  const close = (conn: Deno.Conn) => {
    if (!connections.delete(conn)) return;
    try {
      conn.close();
    } catch (error) {
      // Closed already by the other side of the pipe; the proxy only needs it gone.
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  };

  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch (_error) {
      // A reset or a close from stop() ends the pipe; the pair is closed below either way.
    } finally {
      close(from);
      close(to);
    }
  };

  const accepting = (async () => {
    for await (const client of listener) {
      if (isStopped) {
        client.close();
        break;
      }
      connections.add(client);
      let server: Deno.Conn;
      try {
        server = await Deno.connect(target);
      } catch (error) {
        // The target refused: the client sees its connection closed, as it would have seen the refusal.
        close(client);
        if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
        continue;
      }
      connections.add(server);
      pipes.push(pipe(client, server), pipe(server, client));
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    async stop() {
      if (isStopped) return;
      isStopped = true;
      listener.close();
      for (const conn of [...connections]) close(conn);
      await accepting.catch((error) => {
        // Closing the listener ends the accept loop with BadResource; that is the stop itself.
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      });
      await Promise.all(pipes);
    },
  };
}
