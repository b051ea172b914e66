import assert from "node:assert/strict";
import { toCurlCommand, toSampleEventRecord } from "../../../handler/dev/sample.ts";
import { serveApp } from "../../../handler/http/server.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { parseRecordLine } from "../../../shared/contract/record_parser.ts";
import { countRows, TOKEN, withApp } from "../http/app_harness.ts";

Deno.test("toSampleEventRecord builds a record the parser accepts", () => {
  const record = toSampleEventRecord({ cluster: "dev", now: new Date("2026-11-25T10:00:00.123Z") });
  const parsed = parseRecordLine(JSON.stringify(record), 1, { jsonDepthMax: 32 });
  assert.equal(parsed.ok, true);
  assert.equal(record.observedAt, "2026-11-25T10:00:00Z");
});

Deno.test("the curl command `deno task dev` prints sends the sample event, and a replay counts a duplicate", async () => {
  await withApp(async (h) => {
    const controller = new AbortController();
    const serving = serveApp({
      app: h.app,
      port: 0,
      hostname: "127.0.0.1",
      shutdownDeadlineS: 5,
      logger: createLogger({ isDebug: false, write: () => {} }),
      signal: controller.signal,
    });
    try {
      const command = toCurlCommand({
        baseUrl: `http://127.0.0.1:${serving.port}`,
        token: TOKEN,
        records: [toSampleEventRecord({ cluster: "cluster-a", now: new Date() })],
      });
      const run = async () => {
        const output = await new Deno.Command("bash", { args: ["-c", command], stdout: "piped", stderr: "piped" })
          .output();
        assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
        return JSON.parse(new TextDecoder().decode(output.stdout));
      };
      assert.deepEqual(await run(), { accepted: 1, duplicates: 0, rejected: [] });
      assert.deepEqual(await run(), { accepted: 0, duplicates: 1, rejected: [] });
      assert.equal(await countRows(h.sql, h.schema), 1);
    } finally {
      controller.abort();
      await serving.finished;
      await serving.closed;
    }
  });
});
