import assert from "node:assert/strict";
import { RefusalLog } from "../../../handler/http/refusal_log.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";

function setup() {
  const lines: Record<string, unknown>[] = [];
  let nowMs = 0;
  const log = new RefusalLog({
    logger: createLogger({ isDebug: false, write: (line) => lines.push(JSON.parse(line)) }),
    intervalMs: 60_000,
    clockMs: () => nowMs,
  });
  return { log, lines, advance: (ms: number) => nowMs += ms };
}

Deno.test("RefusalLog logs one warning per cluster and minute, counting the refusals it stands for", () => {
  const { log, lines, advance } = setup();
  log.note("INVALID_TOKEN", "cluster-a");
  log.note("INVALID_TOKEN", "cluster-a");
  log.note("FORBIDDEN_CLUSTER", "cluster-b");
  advance(59_999);
  log.note("INVALID_TOKEN", "cluster-a");
  advance(1);
  log.note("MISSING_TOKEN", "cluster-a");
  log.note("MISSING_TOKEN", null);
  assert.deepEqual(
    lines.map(({ level, msg, code, cluster, refusedSinceLastLine }) => ({
      level,
      msg,
      code,
      cluster,
      refusedSinceLastLine,
    })),
    [
      {
        level: "warn",
        msg: "request refused for its token",
        code: "INVALID_TOKEN",
        cluster: "cluster-a",
        refusedSinceLastLine: 1,
      },
      {
        level: "warn",
        msg: "request refused for its token",
        code: "FORBIDDEN_CLUSTER",
        cluster: "cluster-b",
        refusedSinceLastLine: 1,
      },
      {
        level: "warn",
        msg: "request refused for its token",
        code: "MISSING_TOKEN",
        cluster: "cluster-a",
        refusedSinceLastLine: 3,
      },
      {
        level: "warn",
        msg: "request refused for its token",
        code: "MISSING_TOKEN",
        cluster: null,
        refusedSinceLastLine: 1,
      },
    ],
  );
});
