import assert from "node:assert/strict";
import { RecentSet } from "../../relay/recent_set.ts";

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
