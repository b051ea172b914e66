import assert from "node:assert/strict";
import { DEFAULT_CATCH_UP_WINDOW_MS, parseTailArgs } from "../../../handler/tail/args.ts";

Deno.test("parseTailArgs reads repeated filters in both --name value and --name=value forms", () => {
  assert.deepEqual(
    parseTailArgs(["--cluster", "prod-a", "--cluster=prod-b", "-n", "shop", "--type=Warning", "--reason", "BackOff"]),
    {
      filter: { clusters: ["prod-a", "prod-b"], namespaces: ["shop"], types: ["Warning"], reasons: ["BackOff"] },
      catchUpWindowMs: DEFAULT_CATCH_UP_WINDOW_MS,
      isColorDisabled: false,
      isHelp: false,
    },
  );
});

Deno.test("parseTailArgs reads --since and --catch-up-window as Go durations or seconds", () => {
  const args = parseTailArgs(["--since", "1h30m", "--catch-up-window=90", "--no-color"]);
  assert.equal(args.sinceMs, 5_400_000);
  assert.equal(args.catchUpWindowMs, 90_000);
  assert.equal(args.isColorDisabled, true);
});

Deno.test("parseTailArgs with no arguments follows everything and prints no history", () => {
  const args = parseTailArgs([]);
  assert.equal(args.sinceMs, undefined);
  assert.deepEqual(args.filter, { clusters: [], namespaces: [], types: [], reasons: [] });
  assert.equal(DEFAULT_CATCH_UP_WINDOW_MS, 600_000);
});

Deno.test("parseTailArgs reads --help and -h", () => {
  assert.equal(parseTailArgs(["--help"]).isHelp, true);
  assert.equal(parseTailArgs(["-h"]).isHelp, true);
});

Deno.test("parseTailArgs refuses an unknown option", () => {
  assert.throws(() => parseTailArgs(["--follow"]), new SyntaxError('Cannot read argument "--follow": unknown option'));
});

Deno.test("parseTailArgs refuses an option without a value", () => {
  assert.throws(() => parseTailArgs(["--cluster"]), new SyntaxError("Cannot read --cluster: it needs a value"));
  assert.throws(() => parseTailArgs(["--reason="]), new SyntaxError("Cannot read --reason: it needs a value"));
});

Deno.test("parseTailArgs refuses a duration that does not parse", () => {
  assert.throws(
    () => parseTailArgs(["--since", "yesterday"]),
    new SyntaxError(
      'Cannot read --since: Cannot parse duration "yesterday": use a Go duration like "30s", "2m", "1h30m" or plain seconds',
    ),
  );
});
