import assert from "node:assert/strict";
import { findFreePort } from "../../handler/dev/embedded_database.ts";
import type { IngestResponse } from "../../shared/contract/protocol.ts";
import { withTestSchema } from "../support/database.ts";
import { eventRecord, ndjson, testEnv, TOKEN } from "./http/app_harness.ts";
import { gzip } from "../support/gzip.ts";
import { spawnDeno, stopChild, waitUntilAnswering } from "../support/subprocess.ts";

interface OtlpDataPoint {
  attributes?: { key: string; value: { stringValue?: string } }[];
  asDouble?: number;
  asInt?: string | number;
  count?: string | number;
}

interface OtlpMetric {
  name: string;
  sum?: { dataPoints: OtlpDataPoint[] };
  histogram?: { dataPoints: OtlpDataPoint[] };
}

interface OtlpBody {
  resourceMetrics: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeMetrics: { metrics: OtlpMetric[] }[];
  }[];
}

/** A local OTLP/HTTP receiver keeping every JSON export request it gets. */
function startOtlpReceiver() {
  const bodies: OtlpBody[] = [];
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    let stream = request.body ?? new Blob([]).stream();
    if (request.headers.get("content-encoding") === "gzip") {
      stream = stream.pipeThrough(new DecompressionStream("gzip"));
    }
    bodies.push(JSON.parse(await new Response(stream).text()));
    paths.push(new URL(request.url).pathname);
    return Response.json({});
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, bodies, paths, close: () => server.shutdown() };
}

/** The value of a counter's data point whose attributes are exactly `attributes`, in one export. */
function counterValue(body: OtlpBody, name: string, attributes: Record<string, string>): number | undefined {
  const metric = body.resourceMetrics.flatMap((r) => r.scopeMetrics).flatMap((s) => s.metrics).find((m) =>
    m.name === name
  );
  const point = metric?.sum?.dataPoints.find((p) => {
    const entries = (p.attributes ?? []).map((a) => [a.key, a.value.stringValue]);
    return JSON.stringify(Object.fromEntries(entries)) === JSON.stringify(attributes);
  });
  return point === undefined ? undefined : Number(point.asDouble ?? point.asInt);
}

async function postEvents(baseUrl: string, records: (object | string)[]): Promise<[number, IngestResponse]> {
  const response = await fetch(`${baseUrl}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson", "content-encoding": "gzip" },
    body: await gzip(ndjson(records)),
  });
  return [response.status, await response.json()];
}

async function scrape(baseUrl: string): Promise<{ contentType: string | null; lines: string[] }> {
  const response = await fetch(`${baseUrl}/metrics`);
  assert.equal(response.status, 200);
  return { contentType: response.headers.get("content-type"), lines: (await response.text()).split("\n") };
}

Deno.test("handler/main.ts serves /metrics on PORT and pushes OTLP every OTEL_EXPORT_INTERVAL, last push at SIGTERM", async () => {
  const receiver = startOtlpReceiver();
  try {
    await withTestSchema(async (schema) => {
      const port = await findFreePort();
      const child = spawnDeno(["run", "-A", "handler/main.ts"], {
        ...await testEnv(schema),
        PORT: String(port),
        OTEL_ENABLED: "true",
        // Seconds: 0.3 s must become a 300 ms push period.
        OTEL_EXPORT_INTERVAL: "0.3",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        HOSTNAME: "events-ingester-handler-7d9f-q2x",
      });
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitUntilAnswering(child, `${baseUrl}/readyz`);
      const record = eventRecord();
      assert.deepEqual(await postEvents(baseUrl, [record, eventRecord()]), [
        200,
        { accepted: 2, duplicates: 0, rejected: [] },
      ]);
      const [status, answer] = await postEvents(baseUrl, [record, "nope"]);
      assert.deepEqual(
        [status, answer.accepted, answer.duplicates, answer.rejected.map((r) => [r.line, r.code])],
        [200, 0, 1, [[2, "INVALID_JSON"]]],
      );
      const { contentType, lines } = await scrape(baseUrl);
      assert.equal(contentType, "text/plain; version=0.0.4; charset=utf-8");
      assert.ok(
        lines.includes(
          'target_info{service_name="events-ingester-handler",service_instance_id="events-ingester-handler-7d9f-q2x"} 1',
        ),
      );
      for (
        const line of [
          'events_ingester_handler_requests_total{route="probe",status="200"} 1',
          'events_ingester_handler_requests_total{route="events",status="200"} 2',
          'events_ingester_db_insert_rows_total{cluster="cluster-a"} 2',
          'events_ingester_db_insert_duplicates_total{cluster="cluster-a"} 1',
          'events_ingester_handler_rejected_lines_total{cluster="cluster-a",code="INVALID_JSON"} 1',
          'events_ingester_handler_commit_lag_seconds_count{cluster="cluster-a"} 3',
          "events_ingester_batch_flush_size_count 2",
        ]
      ) assert.ok(lines.includes(line), `missing ${line}`);
      // A periodic push arrives while serving (60 s would be the default; 300 ms is the configured period).
      const deadline = Date.now() + 10_000;
      while (receiver.bodies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const periodic = receiver.bodies.length;
      assert.ok(periodic > 0, "no OTLP push within 10 s");
      const output = await stopChild(child);
      assert.equal(output.code, 0, output.stderr);
      // The last push, at shutdown, carries the scrape above.
      assert.ok(receiver.bodies.length > periodic);
      const last = receiver.bodies.at(-1)!;
      assert.deepEqual(new Set(receiver.paths), new Set(["/v1/metrics"]));
      const requests = "events_ingester.handler.requests";
      assert.equal(counterValue(last, requests, { route: "metrics", status: "200" }), 1);
      assert.equal(counterValue(last, requests, { route: "events", status: "200" }), 2);
      assert.equal(counterValue(last, "events_ingester.db.insert.rows", { cluster: "cluster-a" }), 2);
      const resource = last.resourceMetrics[0]!.resource.attributes;
      assert.deepEqual(resource.find((a) => a.key === "service.name")?.value, {
        stringValue: "events-ingester-handler",
      });
      assert.deepEqual(resource.find((a) => a.key === "service.instance.id")?.value, {
        stringValue: "events-ingester-handler-7d9f-q2x",
      });
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("handler/serve.ts under `deno serve` serves /metrics counting the requests it answered", async () => {
  await withTestSchema(async (schema) => {
    const port = await findFreePort();
    const child = spawnDeno(
      ["serve", "-A", "--host", "127.0.0.1", "--port", String(port), "handler/serve.ts"],
      await testEnv(schema),
    );
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(child, `${baseUrl}/readyz`);
    try {
      assert.deepEqual(await postEvents(baseUrl, [eventRecord(), eventRecord(), eventRecord()]), [
        200,
        { accepted: 3, duplicates: 0, rejected: [] },
      ]);
      const unauthorized = await fetch(`${baseUrl}/v1/events`, { method: "POST", body: "{}\n" });
      assert.equal(unauthorized.status, 401);
      await unauthorized.body?.cancel();
      const { lines } = await scrape(baseUrl);
      for (
        const line of [
          'events_ingester_handler_requests_total{route="events",status="200"} 1',
          'events_ingester_handler_requests_total{route="events",status="401"} 1',
          'events_ingester_db_insert_rows_total{cluster="cluster-a"} 3',
          'events_ingester_handler_commit_lag_seconds_count{cluster="cluster-a"} 3',
        ]
      ) assert.ok(lines.includes(line), `missing ${line}`);
    } finally {
      const output = await stopChild(child);
      assert.equal(output.code, 0, output.stderr);
    }
  });
});
