import assert from "node:assert/strict";
import { LruCache } from "../../../relay/pipeline/lru_cache.ts";

Deno.test("LruCache evicts the least recently used entry when entriesMax is reached", () => {
  const cache = new LruCache<string, number>({ entriesMax: 2, ttlMs: 1000, now: () => 0 });
  cache.set("a", 1);
  cache.set("b", 2);
  assert.equal(cache.get("a"), 1); // a is now the most recent
  cache.set("c", 3);
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.get("a"), 1);
  assert.equal(cache.get("c"), 3);
  assert.equal(cache.size, 2);
});

Deno.test("LruCache treats an entry older than ttlMs as absent and removes it", () => {
  let nowMs = 0;
  const cache = new LruCache<string, string>({ entriesMax: 10, ttlMs: 100, now: () => nowMs });
  cache.set("k", "v");
  nowMs = 99;
  assert.equal(cache.get("k"), "v");
  nowMs = 100;
  assert.equal(cache.get("k"), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("LruCache set refreshes the TTL of an existing key", () => {
  let nowMs = 0;
  const cache = new LruCache<string, string>({ entriesMax: 10, ttlMs: 100, now: () => nowMs });
  cache.set("k", "old");
  nowMs = 90;
  cache.set("k", "new");
  nowMs = 150;
  assert.equal(cache.get("k"), "new");
});

Deno.test("LruCache refuses a non-positive entriesMax", () => {
  assert.throws(() => new LruCache({ entriesMax: 0, ttlMs: 1 }), {
    name: "RangeError",
    message: "Cannot create LruCache: entriesMax 0 is not a positive integer",
  });
});
