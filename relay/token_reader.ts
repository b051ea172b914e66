/**
 * The handler token, read from HANDLER_TOKEN_FILE and re-read when the file changes (projected tokens rotate).
 */

/** Returns a function that yields the current token. Throws Error naming the file when it is unreadable or empty. */
export function createTokenReader(source: { file: string } | { value: string }): () => Promise<string> {
  if ("value" in source) return () => Promise.resolve(source.value);
  let cached: { token: string; mtimeMs: number | undefined; checkedAtMs: number } | undefined;
  return async () => {
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
