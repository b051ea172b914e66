/**
 * The handler token, read from HANDLER_TOKEN_FILE and re-read when the file changes (projected tokens rotate).
 */

/**
 * Reads the current token. With `isForced` the file is read again even when it looks unchanged (the handler has just
 * refused the token, and a rotation may have kept the file's modification time).
 */
export type TokenReader = (options?: { isForced?: boolean }) => Promise<string>;

/**
 * Returns a reader of the current token: the file is checked at most once a second and read again when its
 * modification time changes, or when a read is forced. Throws Error naming the file when it is unreadable or empty.
 */
export function createTokenReader(source: { file: string } | { value: string }): TokenReader {
  if ("value" in source) return () => Promise.resolve(source.value);
  let cached: { token: string; mtimeMs: number | undefined; checkedAtMs: number } | undefined;
  return async (options = {}) => {
    if (options.isForced) cached = undefined;
    if (cached !== undefined && Date.now() - cached.checkedAtMs < 1000) return cached.token;
    const stat = await Deno.stat(source.file);
    const mtimeMs = stat.mtime?.getTime();
    if (cached !== undefined && mtimeMs !== undefined && mtimeMs === cached.mtimeMs) {
      cached.checkedAtMs = Date.now();
      return cached.token;
    }
    const token = (await Deno.readTextFile(source.file)).trim();
    if (token === "") throw new Error(`Cannot read the handler token: ${source.file} is empty`);
    cached = { token, mtimeMs, checkedAtMs: Date.now() };
    return token;
  };
}
