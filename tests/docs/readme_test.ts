/**
 * The README is the operator's reference: every problem code the handler answers (with its status), every line code,
 * and every environment variable the two config loaders read must be in it.
 */
import assert from "node:assert/strict";
import { loadHandlerConfig } from "../../handler/config.ts";
import { PROBLEM_CODES } from "../../handler/http/http_error.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { LINE_ERROR_CODES } from "../../shared/contract/line_error.ts";
import { recordReads } from "../support/env_reads.ts";

const README = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));

/** The README's table rows (lines starting with `|`), split into trimmed cells. */
const ROWS = README.split("\n").filter((line) => line.startsWith("|")).map((line) =>
  line.split("|").slice(1, -1).map((cell) => cell.trim())
);

/** Names every process has, read by the loaders as fallbacks (README names what they fall back to, not these). */
const PROCESS_ENV_NAMES = new Set(["HOME", "HOSTNAME", "KUBERNETES_SERVICE_HOST"]);

/** The names a loader reads from each of the environments. */
function namesRead(load: (env: Record<string, string | undefined>) => unknown, envs: Record<string, string>[]) {
  const names = new Set<string>();
  for (const env of envs) {
    const recorded = recordReads(env);
    try {
      load(recorded.env);
    } catch {
      // A refused environment still shows which names were read; every problem is collected before the throw.
    }
    for (const name of recorded.names) if (/^[A-Z][A-Z0-9_]*$/.test(name)) names.add(name);
  }
  return [...names].filter((name) => !PROCESS_ENV_NAMES.has(name)).sort();
}

Deno.test("README lists every problem code with its status in a table row", () => {
  for (const [code, { status }] of Object.entries(PROBLEM_CODES)) {
    const row = ROWS.find((cells) => cells.includes(`\`${code}\``) && cells.includes(String(status)));
    assert.ok(row, `README has no table row with ${status} and \`${code}\``);
  }
});

Deno.test("README lists every line code in a table row", () => {
  for (const code of LINE_ERROR_CODES) {
    assert.ok(ROWS.some((cells) => cells[0] === `\`${code}\``), `README has no table row for line code \`${code}\``);
  }
});

Deno.test("README has a table row for every environment variable the handler and relay loaders read", () => {
  const handlerNames = namesRead(loadHandlerConfig, [{ DATABASE_URL: "postgres://u@db/events" }, { DB_HOST: "db" }]);
  const relayNames = namesRead(loadRelayConfig, [{}, { KUBERNETES_SERVICE_HOST: "10.96.0.1" }]);
  // The loaders read far more than a handful of names; a proxy that recorded nothing would make this test empty.
  assert.ok(handlerNames.length > 20 && relayNames.length > 20, `${handlerNames.length} / ${relayNames.length}`);
  const missing = [...handlerNames, ...relayNames].filter((name) => !ROWS.some((cells) => cells[0] === `\`${name}\``));
  assert.deepEqual(missing, []);
});
