/**
 * Binary search and merge over sorted string keys, for the event store's key order.
 */

/** The first index whose key is not below `target` in sorted `keys`. */
export function lowerBound(keys: string[], target: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Merges two sorted arrays of keys into a new sorted array. */
export function mergeSorted(a: string[], b: string[]): string[] {
  if (b.length === 0) return a;
  const merged: string[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) merged[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) merged[k++] = a[i++]!;
  while (j < b.length) merged[k++] = b[j++]!;
  return merged;
}
