/** Which environment variables a config loader reads, found by letting it read through a recording proxy. */

/** `env` as a loader sees it, recording every name the loader reads. */
export function recordReads(
  env: Record<string, string>,
): { env: Record<string, string | undefined>; names: Set<string> } {
  const names = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, name) {
      if (typeof name === "string") names.add(name);
      return Reflect.get(target, name);
    },
    has(target, name) {
      if (typeof name === "string") names.add(name);
      return Reflect.has(target, name);
    },
  });
  return { env: proxy, names };
}
