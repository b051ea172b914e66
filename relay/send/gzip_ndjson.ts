/**
 * The request body codec of the relay: NDJSON lines gzipped once, kept compressed while the batch waits and is sent
 * (and re-sent), and decompressed again only to split a batch the handler refused as too large.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";

/** A batch already gzipped: what the relay keeps while a batch waits to be sent, instead of its lines. */
export interface GzipBatch {
  /** gzip NDJSON, as `gzipLines` makes it. */
  body: Uint8Array<ArrayBuffer>;
  /** Records (lines) in the body. */
  records: number;
  /** The watch position safe to resume from once this batch (and every earlier one) is stored; null if none. */
  resumeVersion: string | null;
}

/** gzip level of request bodies: nearly the size of the default level 6 at about half its CPU time. */
export const GZIP_LEVEL = 3;
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/** Gzips the lines (each ending in `\n`) into one buffer, so a retry re-sends the same bytes without compressing. */
export async function gzipLines(lines: string[]): Promise<Uint8Array<ArrayBuffer>> {
  const compressed = await gzip(new TextEncoder().encode(lines.join("")), { level: GZIP_LEVEL });
  return new Uint8Array(compressed.buffer as ArrayBuffer, compressed.byteOffset, compressed.byteLength);
}

/** The lines of a body made by `gzipLines`, each ending in `\n`. Rejects when `body` is not gzip. */
export async function gunzipLines(body: Uint8Array<ArrayBuffer>): Promise<string[]> {
  const text = new TextDecoder().decode(await gunzip(body));
  return text.split("\n").slice(0, -1).map((line) => line + "\n");
}
