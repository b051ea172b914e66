/**
 * Test helper: an HTTP/1.1 client over a raw TCP socket, for requests `fetch` refuses to send (a Host header that is
 * not a host, broken chunked framing, a body shorter than its Content-Length) and for clients that go away.
 */

/** One step of what the client does on the socket. */
export type RawStep =
  | string
  | Uint8Array
  /** Waits, so that what came before reaches the server as its own packet. */
  | { pauseMs: number }
  /** Closes the socket at once, with no wait for an answer: a client that goes away. */
  | "close";

/** A parsed answer. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Connects to 127.0.0.1:`port`, performs `steps`, then reads the answer until it is complete (Content-Length) or the
 * server closes. Returns null when the server closed without answering, or when the steps ended with "close".
 * Throws when no complete answer came within `timeoutMs`.
 */
export async function exchangeRaw(port: number, steps: RawStep[], timeoutMs = 10_000): Promise<RawResponse | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const step of steps) {
      if (step === "close") return null;
      if (typeof step === "string") await writeAll(conn, encoder.encode(step));
      else if (step instanceof Uint8Array) await writeAll(conn, step);
      else await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
    }
    return await readResponse(conn, timeoutMs);
  } finally {
    conn.close();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

async function readResponse(conn: Deno.Conn, timeoutMs: number): Promise<RawResponse | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot read the answer: none complete within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([readUntilComplete(conn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readUntilComplete(conn: Deno.Conn): Promise<RawResponse | null> {
  let text = "";
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch (error) {
      // A reset after the answer, or instead of one, ends the read like a close.
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      n = null;
    }
    if (n !== null) text += decoder.decode(buffer.subarray(0, n), { stream: true });
    const response = parseResponse(text);
    if (response !== undefined) return response;
    if (n === null) {
      if (text === "") return null;
      throw new Error(`Cannot parse the answer: the connection closed after ${JSON.stringify(text.slice(0, 200))}`);
    }
  }
}

/** The response in `text` once it is complete, else undefined. */
function parseResponse(text: string): RawResponse | undefined {
  const end = text.indexOf("\r\n\r\n");
  if (end === -1) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = Number(headers["content-length"] ?? NaN);
  if (!Number.isFinite(length) || encoder.encode(body).length < length) return undefined;
  return { status: Number(statusLine!.split(" ")[1]), headers, body };
}
