import assert from "node:assert/strict";
import {
  assertProblem,
  assertStillServes,
  CLUSTER,
  countRows,
  eventRecord,
  gapRecord,
  ndjson,
  OTHER_CLUSTER,
  OTHER_TOKEN,
  post,
  storedRows,
  uidOf,
  withApp,
} from "./app_harness.ts";
import type { EventRecord } from "../../../shared/contract/records.ts";
import { createApp } from "../../../handler/http/app.ts";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { gzip } from "../../support/gzip.ts";

Deno.test("POST /v1/events stores valid events, minified and mapped, and answers counts", async () => {
  await withApp(async (h) => {
    const record = eventRecord({ uid: "0b3a6c1e-7d7a-4a55-9a57-1a2b3c4d5e6f", resourceVersion: "4711" });
    record.enrichment = { labels: { app: "web" }, compositionId: "5E1C1A2B-0000-4000-8000-000000000001" };
    const result = await post(h.app, ndjson([record, eventRecord()]));
    assert.equal(result.status, 200);
    assert.equal(result.headers.get("content-type"), "application/json");
    assert.deepEqual(result.body, { accepted: 2, duplicates: 0, rejected: [] });
    const rows = await storedRows(h.sql, h.schema);
    assert.equal(rows.length, 2);
    const row = rows.find((r) => r.uid === "0b3a6c1e-7d7a-4a55-9a57-1a2b3c4d5e6f");
    assert.ok(row);
    const event = record.event as { metadata: { name: string }; involvedObject: { name: string; uid: string } };
    assert.deepEqual({ ...row, created_at: (row.created_at as Date).toISOString() }, {
      global_uid: "cluster-a:0b3a6c1e-7d7a-4a55-9a57-1a2b3c4d5e6f",
      resource_version: "4711",
      cluster_name: "cluster-a",
      uid: "0b3a6c1e-7d7a-4a55-9a57-1a2b3c4d5e6f",
      namespace: "shop",
      resource_kind: "v1.Pod",
      resource_name: event.involvedObject.name,
      involved_object_uid: event.involvedObject.uid,
      event_type: "Normal",
      reason: "Pulled",
      message: "Successfully pulled image",
      composition_id: "5e1c1a2b-0000-4000-8000-000000000001",
      created_at: "2026-11-20T10:00:01.000Z",
      raw: {
        apiVersion: "v1",
        kind: "Event",
        metadata: {
          name: event.metadata.name,
          namespace: "shop",
          uid: "0b3a6c1e-7d7a-4a55-9a57-1a2b3c4d5e6f",
          resourceVersion: "4711",
          creationTimestamp: "2026-11-20T10:00:00Z",
        },
        involvedObject: {
          apiVersion: "v1",
          kind: "Pod",
          name: event.involvedObject.name,
          namespace: "shop",
          uid: event.involvedObject.uid,
          labels: { app: "web" },
          compositionId: "5E1C1A2B-0000-4000-8000-000000000001",
        },
        reason: "Pulled",
        message: "Successfully pulled image",
        type: "Normal",
        count: 1,
        firstTimestamp: "2026-11-20T10:00:00Z",
        lastTimestamp: "2026-11-20T10:00:01Z",
        source: { component: "kubelet" },
      },
    });
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events accepts an uncompressed body and a charset parameter", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson([eventRecord()]), {
      isGzip: false,
      headers: { "content-type": "application/x-ndjson; charset=utf-8" },
    });
    assert.deepEqual([result.status, result.body], [200, { accepted: 1, duplicates: 0, rejected: [] }]);
    assert.equal(await countRows(h.sql, h.schema), 1);
  });
});

Deno.test("POST /v1/events rejects bad lines with their codes and stores the valid lines", async () => {
  await withApp(async (h) => {
    const noTimestamp = eventRecord();
    const e = noTimestamp.event as Record<string, unknown>;
    delete e.firstTimestamp;
    delete e.lastTimestamp;
    delete (e.metadata as Record<string, unknown>).creationTimestamp;
    const badTimestamp = eventRecord();
    (badTimestamp.event as Record<string, unknown>).lastTimestamp = "yesterday";
    const wrongType = { ...eventRecord(), event: "not an object" };
    const { cluster: _, ...noCluster } = eventRecord();
    const lines = [
      eventRecord(), // 1
      '{"v":1,"kind":"event",', // 2 invalid JSON
      "[1,2,3]", // 3 not an object
      noCluster, // 4 missing field
      wrongType, // 5 wrong-typed field
      { ...eventRecord(), v: 2 }, // 6 unknown version
      { ...eventRecord(), kind: "metric" }, // 7 unknown kind
      eventRecord({ cluster: OTHER_CLUSTER }), // 8 another cluster's event
      noTimestamp, // 9
      badTimestamp, // 10
      eventRecord(), // 11
    ];
    const result = await post(h.app, ndjson(lines));
    assert.equal(result.status, 200);
    assert.equal(result.body.accepted, 2);
    assert.equal(result.body.duplicates, 0);
    const rejected = result.body.rejected as { line: number; code: string; message: string }[];
    assert.deepEqual(rejected.map((r) => [r.line, r.code]), [
      [2, "INVALID_JSON"],
      [3, "NOT_AN_OBJECT"],
      [4, "MISSING_FIELD"],
      [5, "INVALID_FIELD"],
      [6, "UNSUPPORTED_VERSION"],
      [7, "UNKNOWN_KIND"],
      [8, "CLUSTER_MISMATCH"],
      [9, "MISSING_TIMESTAMP"],
      [10, "INVALID_TIMESTAMP"],
    ]);
    assert.equal(
      rejected[6]?.message,
      'Cannot accept line 8: it is for cluster "cluster-b", the token writes for "cluster-a"',
    );
    assert.equal(rejected[2]?.message, 'Cannot read line 4: field "cluster" is missing');
    const rows = await storedRows(h.sql, h.schema);
    const uids = [lines[0], lines[10]].map((l) => uidOf(l as EventRecord));
    assert.deepEqual(rows.map((r) => r.uid).sort(), uids.sort());
    const warning = h.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "batch stored with rejected lines");
    assert.equal(
      warning.codes,
      "INVALID_JSON:1,NOT_AN_OBJECT:1,MISSING_FIELD:1,INVALID_FIELD:1,UNSUPPORTED_VERSION:1,UNKNOWN_KIND:1," +
        "CLUSTER_MISMATCH:1,MISSING_TIMESTAMP:1,INVALID_TIMESTAMP:1",
    );
    assert.equal(h.logs.some((l) => l.includes("Successfully pulled")), false, "logs carry no payload");
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses a request without a token with 401 MISSING_TOKEN and stores nothing", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson([eventRecord()]), { token: null });
    assertProblem(result, 401, "MISSING_TOKEN");
    assert.equal(result.headers.get("www-authenticate"), 'Bearer realm="events-ingester"');
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses a wrong token with 401 INVALID_TOKEN and stores nothing", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson([eventRecord()]), { token: "guessed" });
    assertProblem(result, 401, "INVALID_TOKEN");
    assert.equal(result.body.detail, "Cannot authenticate: the bearer token is not known");
    assert.equal(result.headers.get("www-authenticate"), 'Bearer realm="events-ingester", error="invalid_token"');
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses another content type with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
  await withApp(async (h) => {
    for (const type of ["application/json", "text/plain", "application/x-ndjson; charset=latin1"]) {
      const result = await post(h.app, ndjson([eventRecord()]), { headers: { "content-type": type } });
      assertProblem(result, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses another content encoding with 415 UNSUPPORTED_ENCODING", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson([eventRecord()]), { headers: { "content-encoding": "br" } });
    assertProblem(result, 415, "UNSUPPORTED_ENCODING");
    assert.equal(result.body.detail, 'Cannot decode Content-Encoding "br": send gzip or identity');
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses a compressed body over BODY_BYTES_MAX with 413, early on Content-Length", async () => {
  await withApp(async (h) => {
    const body = ndjson(Array.from({ length: 20 }, () => eventRecord()));
    const length = String(new TextEncoder().encode(body).length);
    const result = await post(h.app, body, { isGzip: false, headers: { "content-length": length } });
    assertProblem(result, 413, "BODY_TOO_LARGE");
    assert.match(String(result.body.detail), /^Cannot accept the body: Content-Length \d+ is over 2000 bytes/);
    // Without a Content-Length the cap applies while the body streams in.
    const bytes = new TextEncoder().encode(body);
    const streamed = await h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: { authorization: "Bearer token-of-cluster-a", "content-type": "application/x-ndjson" },
        body: ReadableStream.from([bytes.subarray(0, 1500), bytes.subarray(1500)]),
      }),
    );
    assert.equal(streamed.status, 413);
    assert.equal((await streamed.json()).code, "BODY_TOO_LARGE");
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  }, { BODY_BYTES_MAX: "2000" });
});

Deno.test("POST /v1/events refuses a body decoding past DECODED_BODY_BYTES_MAX with 413, valid lines included", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson(Array.from({ length: 30 }, () => eventRecord())));
    assertProblem(result, 413, "DECODED_BODY_TOO_LARGE");
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  }, { DECODED_BODY_BYTES_MAX: "10000" });
});

Deno.test("POST /v1/events refuses a gzip bomb with 413 DECODED_BODY_TOO_LARGE", async () => {
  await withApp(async (h) => {
    // 96 MiB of zero bytes: one endless line, dropped as it streams, so only the decoded-bytes cap (16 MiB by
    // default) stops the request.
    const chunk = new Uint8Array(1024 * 1024);
    const bomb = await new Response(
      ReadableStream.from((function* () {
        for (let i = 0; i < 96; i++) yield chunk;
      })()).pipeThrough(new CompressionStream("gzip")),
    ).bytes();
    assert.ok(bomb.length < 200 * 1024, `bomb is ${bomb.length} bytes`);
    const response = await h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: {
          authorization: "Bearer token-of-cluster-a",
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
        },
        body: bomb,
      }),
    );
    const body = await response.json();
    assert.equal(response.status, 413);
    assert.equal(body.code, "DECODED_BODY_TOO_LARGE");
    assert.equal(
      body.detail,
      "Cannot accept the body: it decodes to more than 16777216 bytes (DECODED_BODY_BYTES_MAX)",
    );
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses more than RECORDS_MAX records with 413 TOO_MANY_RECORDS", async () => {
  await withApp(async (h) => {
    const atLimit = await post(h.app, ndjson([eventRecord(), "", eventRecord(), eventRecord()]));
    assert.deepEqual([atLimit.status, atLimit.body.accepted], [200, 3]);
    const over = await post(h.app, ndjson([eventRecord(), eventRecord(), "not json", eventRecord()]));
    assertProblem(over, 413, "TOO_MANY_RECORDS");
    assert.equal(over.body.detail, "Cannot accept the body: more than 3 records (RECORDS_MAX); line 4 is one too many");
    assert.equal(await countRows(h.sql, h.schema), 3);
    await assertStillServes(h);
  }, { RECORDS_MAX: "3" });
});

Deno.test("POST /v1/events rejects a line over LINE_BYTES_MAX and stores the lines around it", async () => {
  await withApp(async (h) => {
    const huge = eventRecord();
    (huge.event as Record<string, unknown>).message = "x".repeat(2 * 1024 * 1024);
    const result = await post(h.app, ndjson([eventRecord(), huge, eventRecord()]));
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, {
      accepted: 2,
      duplicates: 0,
      rejected: [{ line: 2, code: "LINE_TOO_LONG", message: "Cannot read line 2: longer than 1048576 bytes" }],
    });
    assert.equal(await countRows(h.sql, h.schema), 2);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events rejects deeply nested JSON with TOO_DEEP", async () => {
  await withApp(async (h) => {
    const deep = `{"v":1,"kind":"event","cluster":"cluster-a","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const result = await post(h.app, ndjson([deep, eventRecord()]));
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, {
      accepted: 1,
      duplicates: 0,
      rejected: [{ line: 1, code: "TOO_DEEP", message: "Cannot read line 1: nesting deeper than 32" }],
    });
    assert.equal(await countRows(h.sql, h.schema), 1);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses a truncated gzip stream whole with 400 INVALID_GZIP", async () => {
  await withApp(async (h) => {
    const body = await gzip(ndjson(Array.from({ length: 200 }, () => eventRecord())));
    const truncated = body.slice(0, Math.floor(body.length * 0.8));
    const response = await h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: {
          authorization: "Bearer token-of-cluster-a",
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
        },
        body: truncated,
      }),
    );
    assert.equal(response.status, 400);
    const problem = await response.json();
    assert.equal(problem.code, "INVALID_GZIP");
    // The lines before the break were valid; the request is refused whole so that the relay's retry is exact.
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events rejects a line of invalid UTF-8 with INVALID_UTF8", async () => {
  await withApp(async (h) => {
    const good = new TextEncoder().encode(ndjson([eventRecord()]));
    const bad = new Uint8Array([
      ...new TextEncoder().encode('{"v":1,"note":"'),
      0xc3,
      0x28,
      ...new TextEncoder().encode('"}\n'),
    ]);
    const result = await post(h.app, new Uint8Array([...bad, ...good]));
    assert.deepEqual(result.body, {
      accepted: 1,
      duplicates: 0,
      rejected: [{ line: 1, code: "INVALID_UTF8", message: "Cannot read line 1: it is not valid UTF-8" }],
    });
    assert.equal(await countRows(h.sql, h.schema), 1);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events accepts CRLF line ends and blank lines, numbering lines as an editor does", async () => {
  await withApp(async (h) => {
    const body = `\r\n${JSON.stringify(eventRecord())}\r\n\r\n   \r\nnope\r\n${JSON.stringify(eventRecord())}`;
    const result = await post(h.app, body);
    assert.equal(result.status, 200);
    assert.equal(result.body.accepted, 2);
    assert.deepEqual((result.body.rejected as { line: number; code: string }[]).map((r) => [r.line, r.code]), [
      [5, "INVALID_JSON"],
    ]);
    assert.equal(await countRows(h.sql, h.schema), 2);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores SQL metacharacters literally and rejects NUL characters", async () => {
  await withApp(async (h) => {
    const nasty = "'); drop table k8s_events; -- \\ \" $1 %s \t\u2028 ☃";
    const record = eventRecord();
    const event = record.event as Record<string, unknown>;
    event.message = nasty;
    event.reason = "Robert'); --";
    const withNul = eventRecord();
    (withNul.event as Record<string, unknown>).message = "before\u0000after";
    const rawNul = JSON.stringify(eventRecord()).replace("Successfully", "Succ\u0000essfully");
    const result = await post(h.app, ndjson([record, withNul, rawNul]));
    assert.equal(result.status, 200);
    assert.equal(result.body.accepted, 1);
    assert.deepEqual((result.body.rejected as { line: number; code: string }[]).map((r) => [r.line, r.code]), [
      [2, "NUL_IN_STRING"],
      [3, "INVALID_JSON"],
    ]);
    const [row] = await storedRows(h.sql, h.schema);
    assert.equal(row?.message, nasty);
    assert.equal(row?.reason, "Robert'); --");
    assert.equal((row?.raw as { message: string }).message, nasty);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores the same event twice in one batch once", async () => {
  await withApp(async (h) => {
    const record = eventRecord();
    const result = await post(h.app, ndjson([record, record, eventRecord()]));
    assert.deepEqual([result.status, result.body], [200, { accepted: 2, duplicates: 1, rejected: [] }]);
    assert.equal(await countRows(h.sql, h.schema), 2);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events stores a new version of an event as a new row", async () => {
  await withApp(async (h) => {
    const first = eventRecord({ uid: "4a1f0000-0000-4000-8000-000000000001", resourceVersion: "10" });
    const second = eventRecord({ uid: "4a1f0000-0000-4000-8000-000000000001", resourceVersion: "11" });
    const result = await post(h.app, ndjson([first, second]));
    assert.deepEqual(result.body, { accepted: 2, duplicates: 0, rejected: [] });
    const rows = await storedRows(h.sql, h.schema);
    assert.deepEqual(rows.map((r) => r.resource_version), ["10", "11"]);
  });
});

Deno.test("POST /v1/events answers a replayed batch with duplicates and stores nothing new", async () => {
  await withApp(async (h) => {
    const body = ndjson([eventRecord(), eventRecord(), gapRecord()]);
    const first = await post(h.app, body);
    assert.deepEqual(first.body, { accepted: 3, duplicates: 0, rejected: [] });
    const replay = await post(h.app, body);
    assert.deepEqual([replay.status, replay.body], [200, { accepted: 0, duplicates: 2, rejected: [] }]);
    assert.equal(await countRows(h.sql, h.schema), 2);
    await assertStillServes(h);
    const [gaps] = await h.sql.unsafe(`select count(*)::int as n from "${h.schema}".ingester_gaps`);
    assert.equal(gaps?.n, 1);
  });
});

Deno.test("POST /v1/events stores the resume version, readable at GET /v1/checkpoints/<cluster>", async () => {
  await withApp(async (h) => {
    const headers = {
      "ingester-resume-version": "98765",
      "ingester-fence-holder": "relay-0",
      "ingester-fence-transitions": "3",
    };
    const result = await post(h.app, ndjson([eventRecord()]), { headers });
    assert.equal(result.status, 200);
    const response = await h.app.fetch(
      new Request(`http://handler.test/v1/checkpoints/${CLUSTER}`, {
        headers: { authorization: "Bearer token-of-cluster-a" },
      }),
    );
    assert.equal(response.status, 200);
    const checkpoint = await response.json();
    assert.deepEqual({ ...checkpoint, updatedAt: typeof checkpoint.updatedAt }, {
      cluster: CLUSTER,
      resumeVersion: "98765",
      fence: { holder: "relay-0", transitions: 3 },
      updatedAt: "string",
    });
  });
});

Deno.test("GET /v1/checkpoints/<cluster> answers nulls for a cluster that has not written", async () => {
  await withApp(async (h) => {
    const response = await h.app.fetch(
      new Request(`http://handler.test/v1/checkpoints/${OTHER_CLUSTER}`, {
        headers: { authorization: `Bearer ${OTHER_TOKEN}` },
      }),
    );
    assert.deepEqual(await response.json(), {
      cluster: OTHER_CLUSTER,
      resumeVersion: null,
      fence: null,
      updatedAt: null,
    });
  });
});

Deno.test("GET /v1/checkpoints/<cluster> refuses another cluster's token with 403 FORBIDDEN_CLUSTER", async () => {
  await withApp(async (h) => {
    const response = await h.app.fetch(
      new Request(`http://handler.test/v1/checkpoints/${CLUSTER}`, {
        headers: { authorization: `Bearer ${OTHER_TOKEN}` },
      }),
    );
    assert.equal(response.status, 403);
    assert.deepEqual(await response.json(), {
      type: "urn:events-ingester:problem:FORBIDDEN_CLUSTER",
      title: "Token not allowed for this cluster",
      status: 403,
      code: "FORBIDDEN_CLUSTER",
      detail: 'Cannot read the checkpoint of "cluster-a": the token belongs to cluster "cluster-b"',
    });
    const anonymous = await h.app.fetch(new Request(`http://handler.test/v1/checkpoints/${CLUSTER}`));
    assert.equal(anonymous.status, 401);
  });
});

Deno.test("POST /v1/events refuses a fenced writer with 409 FENCED and stores nothing of its batch", async () => {
  await withApp(async (h) => {
    const fence = (holder: string, transitions: number) => ({
      "ingester-fence-holder": holder,
      "ingester-fence-transitions": String(transitions),
      "ingester-resume-version": `rv-${holder}`,
    });
    const newer = await post(h.app, ndjson([eventRecord()]), { headers: fence("relay-new", 5) });
    assert.equal(newer.status, 200);
    const older = await post(h.app, ndjson([eventRecord(), gapRecord()]), { headers: fence("relay-old", 4) });
    assertProblem(older, 409, "FENCED");
    assert.equal(
      older.body.detail,
      'Cannot write: a newer writer holds the lease for this cluster (holder "relay-new", transitions 5); nothing was written',
    );
    assert.equal(await countRows(h.sql, h.schema), 1);
    const checkpoint = await h.store.readCheckpoint(CLUSTER);
    assert.equal(checkpoint.resumeVersion, "rv-relay-new");
    const again = await post(h.app, ndjson([eventRecord()]), { headers: fence("relay-new", 5) });
    assert.equal(again.status, 200);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events refuses malformed fence or resume headers with 400 INVALID_HEADER", async () => {
  await withApp(async (h) => {
    const result = await post(h.app, ndjson([eventRecord()]), {
      headers: { "ingester-fence-holder": "relay-0", "ingester-fence-transitions": "three" },
    });
    assertProblem(result, 400, "INVALID_HEADER");
    assert.equal(
      result.body.detail,
      'Cannot read ingester-fence-transitions: "three" is not a non-negative whole number',
    );
    assert.equal(await countRows(h.sql, h.schema), 0);
    await assertStillServes(h);
  });
});

Deno.test("POST /v1/events accepts an empty body as an empty batch and still stores the resume version", async () => {
  await withApp(async (h) => {
    const response = await h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: {
          authorization: "Bearer token-of-cluster-a",
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
          "ingester-resume-version": "555",
        },
      }),
    );
    assert.deepEqual([response.status, await response.json()], [200, { accepted: 0, duplicates: 0, rejected: [] }]);
    assert.equal((await h.store.readCheckpoint(CLUSTER)).resumeVersion, "555");
  });
});

Deno.test("the app answers 404 NOT_FOUND and 405 METHOD_NOT_ALLOWED with Allow", async () => {
  await withApp(async (h) => {
    const notFound = await h.app.fetch(new Request("http://handler.test/v2/events", { method: "POST" }));
    assert.equal(notFound.status, 404);
    assert.equal((await notFound.json()).code, "NOT_FOUND");
    const nested = await h.app.fetch(new Request("http://handler.test/v1/checkpoints/a/b"));
    assert.equal(nested.status, 404);
    await nested.body?.cancel();
    const wrongMethod = await h.app.fetch(new Request("http://handler.test/v1/events"));
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "POST");
    assert.equal((await wrongMethod.json()).code, "METHOD_NOT_ALLOWED");
    const checkpoints = await h.app.fetch(new Request("http://handler.test/v1/checkpoints/x", { method: "DELETE" }));
    assert.equal(checkpoints.headers.get("allow"), "GET");
    await checkpoints.body?.cancel();
    const probe = await h.app.fetch(new Request("http://handler.test/livez", { method: "POST" }));
    assert.equal(probe.headers.get("allow"), "GET, HEAD");
    await probe.body?.cancel();
  });
});

Deno.test("the app answers a Host header that is not a host[:port] with 400 INVALID_HEADER, and counts it", async () => {
  await withApp(async (h) => {
    const responses: { route: string; status: number }[] = [];
    const app = createApp({
      config: h.config,
      store: h.store,
      logger: createLogger({ isDebug: false, write: (line) => h.logs.push(line) }),
      observer: { onResponse: ({ route, status }) => responses.push({ route, status }) },
    });
    const request = new Request("http://handler.test/v1/events", {
      method: "POST",
      headers: { host: "a b", authorization: "Bearer token-of-cluster-a", "content-type": "application/x-ndjson" },
      body: ndjson([eventRecord()]),
    });
    const response = await app.fetch(request);
    assert.equal(response.status, 400);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(await response.json(), {
      type: "urn:events-ingester:problem:INVALID_HEADER",
      title: "Invalid request header",
      status: 400,
      code: "INVALID_HEADER",
      detail: "Cannot route the request: the Host header is not a valid host[:port]",
    });
    assert.deepEqual(responses, [{ route: "other", status: 400 }]);
    assert.equal(await countRows(h.sql, h.schema), 0);
    // Only server errors are logged.
    assert.deepEqual(h.logs.filter((line) => JSON.parse(line).level === "error"), []);
  });
});

Deno.test("/livez and /readyz answer 200 with a migrated, reachable database", async () => {
  await withApp(async (h) => {
    const live = await h.app.fetch(new Request("http://handler.test/livez"));
    assert.deepEqual([live.status, await live.json()], [200, { status: "live" }]);
    const ready = await h.app.fetch(new Request("http://handler.test/readyz"));
    assert.deepEqual([ready.status, await ready.json()], [200, { status: "ready" }]);
    const head = await h.app.fetch(new Request("http://handler.test/readyz", { method: "HEAD" }));
    assert.deepEqual([head.status, head.body], [200, null]);
  });
});

Deno.test("POST /v1/events answers 429 TOO_MANY_REQUESTS past REQUESTS_IN_FLIGHT_MAX, then takes batches again", async () => {
  await withApp(async (h) => {
    const slow = new TransformStream<Uint8Array, Uint8Array>();
    const writer = slow.writable.getWriter();
    const first = h.app.fetch(
      new Request("http://handler.test/v1/events", {
        method: "POST",
        headers: { authorization: "Bearer token-of-cluster-a", "content-type": "application/x-ndjson" },
        body: slow.readable,
      }),
    );
    await writer.write(new TextEncoder().encode(ndjson([eventRecord()])));
    const busy = await post(h.app, ndjson([eventRecord()]));
    assertProblem(busy, 429, "TOO_MANY_REQUESTS");
    assert.equal(busy.headers.get("retry-after"), "1");
    assert.equal(busy.body.detail, "Cannot take the batch: 1 are in progress (REQUESTS_IN_FLIGHT_MAX); retry");
    await writer.close();
    const answer = await first;
    assert.deepEqual(await answer.json(), { accepted: 1, duplicates: 0, rejected: [] });
    assert.equal(await countRows(h.sql, h.schema), 1);
    await assertStillServes(h);
  }, { REQUESTS_IN_FLIGHT_MAX: "1" });
});

Deno.test("createApp logs requests refused for their token once per cluster and minute, without the token", async () => {
  await withApp(async (h) => {
    for (let i = 0; i < 5; i++) await post(h.app, ndjson([eventRecord()]), { token: `guessed-${i}` });
    await post(h.app, ndjson([eventRecord()]), { token: null });
    const refusals = h.logs.map((line) => JSON.parse(line)).filter((l) => l.msg === "request refused for its token");
    assert.deepEqual(
      refusals.map(({ level, code, cluster, refusedSinceLastLine }) => ({
        level,
        code,
        cluster,
        refusedSinceLastLine,
      })),
      [
        { level: "warn", code: "INVALID_TOKEN", cluster: null, refusedSinceLastLine: 1 },
      ],
    );
    assert.equal(h.logs.some((line) => line.includes("guessed")), false, "no token value is logged");
  });
});
