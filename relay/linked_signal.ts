/**
 * A signal that aborts when any of its sources does, held strongly by its sources.
 *
 * `AbortSignal.any()` results are referenced only weakly by their sources; once the code that created one no longer
 * touches it (a fetch holding it, say), the garbage collector may drop it and its abort never reaches the fetch. We
 * saw exactly that: a watch that kept streaming after shutdown. A listener on each source keeps this one alive.
 */
export interface LinkedSignal {
  signal: AbortSignal;
  /** Aborts the linked signal by itself (its sources are unaffected). */
  abort(reason?: unknown): void;
  /** Removes the listeners from the sources; call when the linked signal is no longer needed. */
  dispose(): void;
}

/** Links `sources` (undefined entries are skipped) into one controller. */
export function linkSignals(...sources: (AbortSignal | undefined)[]): LinkedSignal {
  const controller = new AbortController();
  const present = sources.filter((s): s is AbortSignal => s !== undefined);
  const listeners = present.map((source) => {
    const onAbort = () => controller.abort(source.reason);
    return { source, onAbort };
  });
  const dispose = () => {
    for (const { source, onAbort } of listeners) source.removeEventListener("abort", onAbort);
  };
  for (const { source, onAbort } of listeners) {
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    source.addEventListener("abort", onAbort, { once: true });
  }
  controller.signal.addEventListener("abort", dispose, { once: true });
  return { signal: controller.signal, abort: (reason) => controller.abort(reason), dispose };
}
