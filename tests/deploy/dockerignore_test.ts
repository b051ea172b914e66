import assert from "node:assert/strict";
import { isIgnored, parseDockerignore } from "./dockerignore.ts";

const PATTERNS = parseDockerignore(
  "# comment\n*\n!deploy/handler/deno.json\n!handler/\nhandler/tail/\n**/*_test.ts\n!handler/tail/keep.ts\n",
);

Deno.test("isIgnored leaves out everything `*` matches at the top, and what lies below it", () => {
  assert.equal(isIgnored(PATTERNS, "README.md"), true);
  assert.equal(isIgnored(PATTERNS, "relay/main.ts"), true);
  assert.equal(isIgnored(PATTERNS, "deploy/handler/deno.lock"), true);
});

Deno.test("isIgnored re-includes a file or a folder named with `!`, and the last matching pattern decides", () => {
  assert.equal(isIgnored(PATTERNS, "deploy/handler/deno.json"), false);
  assert.equal(isIgnored(PATTERNS, "handler/main.ts"), false);
  assert.equal(isIgnored(PATTERNS, "handler/http/app.ts"), false);
  assert.equal(isIgnored(PATTERNS, "handler/tail/main.ts"), true);
  assert.equal(isIgnored(PATTERNS, "handler/tail/keep.ts"), false);
});

Deno.test("isIgnored matches `**` across any number of folders, `*` within one", () => {
  assert.equal(isIgnored(PATTERNS, "handler/x_test.ts"), true);
  assert.equal(isIgnored(PATTERNS, "handler/http/deep/x_test.ts"), true);
  const star = parseDockerignore("handler/*.ts\n");
  assert.equal(isIgnored(star, "handler/main.ts"), true);
  assert.equal(isIgnored(star, "handler/http/app.ts"), false);
});
