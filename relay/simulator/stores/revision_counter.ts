/**
 * The cluster-wide resourceVersion: one counter for every write to any object, like etcd's revision. Versions are
 * decimal integers as text on the wire.
 */
export class RevisionCounter {
  #current: number;

  constructor(start = 1_000) {
    this.#current = start;
  }

  /** The newest revision written. */
  get current(): number {
    return this.#current;
  }

  /** Takes the next revision for a write. */
  next(): number {
    this.#current++;
    return this.#current;
  }
}

/** Reads a resourceVersion from a request. Returns undefined for "" and for text that is not a decimal integer. */
export function parseResourceVersion(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}
