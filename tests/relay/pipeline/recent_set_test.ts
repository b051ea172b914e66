import assert from "node:assert/strict";
import { RecentSet, toVersionKey } from "../../../relay/pipeline/recent_set.ts";

Deno.test("RecentSet forgets its oldest key when entriesMax is reached", () => {
  const recent = new RecentSet({ entriesMax: 3 });
  for (const key of ["a", "b", "c", "b", "d"]) recent.add(key);
  assert.deepEqual(["a", "b", "c", "d"].map((key) => recent.has(key)), [false, true, true, true]);
  assert.equal(recent.size, 3);
  recent.add("e");
  assert.deepEqual(["b", "c", "d", "e"].map((key) => recent.has(key)), [false, true, true, true]);
});

Deno.test("RecentSet refuses an entriesMax that is not a positive integer", () => {
  assert.throws(() => new RecentSet({ entriesMax: 0 }), {
    name: "RangeError",
    message: "Cannot create RecentSet: entriesMax 0 is not a positive integer",
  });
});

Deno.test("toVersionKey keeps a canonical decimal resourceVersion as a number and anything else as uid@version", () => {
  assert.equal(toVersionKey("u1", "123456"), 123456);
  assert.equal(toVersionKey("u2", "123456"), toVersionKey("u1", "123456"));
  assert.equal(toVersionKey("u1", "9007199254740991"), 9007199254740991);
  // Texts that Number would read as the same value as another text stay distinct.
  assert.equal(toVersionKey("u1", "0123"), "u1@0123");
  assert.equal(toVersionKey("u1", "1e3"), "u1@1e3");
  assert.equal(toVersionKey("u1", " 12"), "u1@ 12");
  assert.equal(toVersionKey("u1", ""), "u1@");
  assert.equal(toVersionKey("u1", "9007199254740993"), "u1@9007199254740993");
  assert.equal(toVersionKey("u1", "opaque-7"), "u1@opaque-7");
});

Deno.test("RecentSet tells a numeric key from the same digits as text", () => {
  const recent = new RecentSet({ entriesMax: 4 });
  recent.add(toVersionKey("u1", "42"));
  assert.equal(recent.has(42), true);
  assert.equal(recent.has("42"), false);
  assert.equal(recent.has(toVersionKey("u9", "42")), true);
});
