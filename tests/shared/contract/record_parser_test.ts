import assert from "node:assert/strict";
import { isClusterName, KEY_FIELD_LENGTH_MAX, parseRecordLine } from "../../../shared/contract/record_parser.ts";

const options = { jsonDepthMax: 8 };

function eventLine(overrides: Record<string, unknown> = {}, event: Record<string, unknown> = {}): string {
  return JSON.stringify({
    v: 1,
    kind: "event",
    cluster: "prod-eu",
    observedAt: "2026-11-25T10:00:00Z",
    event: {
      metadata: { uid: "u-1", resourceVersion: "42", creationTimestamp: "2026-11-25T09:59:58Z" },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: "web-0", namespace: "shop" },
      ...event,
    },
    ...overrides,
  });
}

function codeOf(text: string): string {
  const parsed = parseRecordLine(text, 7, options);
  assert.equal(parsed.ok, false, `expected ${text} to be rejected`);
  if (parsed.ok) throw new Error("unreachable");
  assert.equal(parsed.error.line, 7);
  return parsed.error.code;
}

Deno.test("parseRecordLine accepts an event record and returns its view", () => {
  const parsed = parseRecordLine(eventLine(), 1, options);
  assert.equal(parsed.ok, true);
  if (!parsed.ok) return;
  assert.equal(parsed.record.kind, "event");
  assert.equal(parsed.view?.uid, "u-1");
  assert.equal(parsed.view?.resourceVersion, "42");
});

Deno.test("parseRecordLine accepts a gap record", () => {
  const text = JSON.stringify({
    v: 1,
    kind: "gap",
    cluster: "prod-eu",
    observedAt: "2026-11-25T10:00:00Z",
    from: null,
    to: "900",
    reason: "WATCH_EXPIRED",
  });
  const parsed = parseRecordLine(text, 1, options);
  assert.deepEqual(parsed, { ok: true, record: JSON.parse(text) });
});

Deno.test("parseRecordLine rejects invalid JSON with INVALID_JSON and the line number", () => {
  const parsed = parseRecordLine("{nope", 3, options);
  assert.equal(parsed.ok, false);
  if (parsed.ok) return;
  assert.equal(parsed.error.code, "INVALID_JSON");
  assert.equal(parsed.error.line, 3);
  assert.match(parsed.error.message, /^Cannot parse line 3: /);
});

Deno.test("parseRecordLine rejects values that are not objects with NOT_AN_OBJECT", () => {
  assert.equal(codeOf("[1,2]"), "NOT_AN_OBJECT");
  assert.equal(codeOf('"text"'), "NOT_AN_OBJECT");
  assert.equal(codeOf("null"), "NOT_AN_OBJECT");
});

Deno.test("parseRecordLine rejects nesting deeper than jsonDepthMax with TOO_DEEP", () => {
  const deep = eventLine({ extra: JSON.parse("[".repeat(20) + "]".repeat(20)) });
  assert.equal(codeOf(deep), "TOO_DEEP");
  assert.equal(codeOf('{"a":' + "[".repeat(100_000) + "]".repeat(100_000) + "}"), "TOO_DEEP");
});

Deno.test("parseRecordLine rejects a NUL character in any string with NUL_IN_STRING", () => {
  assert.equal(codeOf(eventLine({}, { message: "a\u0000b" })), "NUL_IN_STRING");
});

Deno.test("parseRecordLine keeps a literal backslash-u0000 text that is not a NUL", () => {
  const parsed = parseRecordLine(eventLine({}, { message: "\\u0000 is how NUL is escaped" }), 1, options);
  assert.equal(parsed.ok, true);
});

Deno.test("parseRecordLine rejects a missing or unknown version", () => {
  assert.equal(codeOf(eventLine({ v: undefined })), "MISSING_FIELD");
  assert.equal(codeOf(eventLine({ v: 2 })), "UNSUPPORTED_VERSION");
  assert.equal(codeOf(eventLine({ v: "1" })), "UNSUPPORTED_VERSION");
});

Deno.test("parseRecordLine rejects an unknown kind with UNKNOWN_KIND and a missing one with MISSING_FIELD", () => {
  assert.equal(codeOf(eventLine({ kind: "metric" })), "UNKNOWN_KIND");
  assert.equal(codeOf(eventLine({ kind: undefined })), "MISSING_FIELD");
});

Deno.test("parseRecordLine checks the cluster name", () => {
  assert.equal(codeOf(eventLine({ cluster: undefined })), "MISSING_FIELD");
  assert.equal(codeOf(eventLine({ cluster: "a:b" })), "INVALID_FIELD");
  assert.equal(codeOf(eventLine({ cluster: 7 })), "INVALID_FIELD");
});

Deno.test("isClusterName allows DNS-like names and refuses colons, blanks and edges", () => {
  assert.deepEqual(
    ["prod-eu", "a", "cluster_1.example", "", "-a", "a-", "a b", "a:b", "x".repeat(254)].map(isClusterName),
    [true, true, true, false, false, false, false, false, false],
  );
});

Deno.test("parseRecordLine rejects a missing event identity with MISSING_FIELD", () => {
  assert.equal(
    codeOf(eventLine({}, { metadata: { resourceVersion: "1", creationTimestamp: "2026-11-25T00:00:00Z" } })),
    "MISSING_FIELD",
  );
  assert.equal(codeOf(eventLine({ event: undefined })), "MISSING_FIELD");
  assert.equal(codeOf(eventLine({ event: [] })), "INVALID_FIELD");
});

/** The error of a line whose event metadata is `metadata`. */
function metadataError(metadata: unknown): { code: string; message: string } {
  const parsed = parseRecordLine(eventLine({}, { metadata, eventTime: "2026-11-25T00:00:00Z" }), 4, options);
  if (parsed.ok) assert.fail(`expected metadata ${JSON.stringify(metadata)} to be rejected`);
  return { code: parsed.error.code, message: parsed.error.message };
}

Deno.test("parseRecordLine rejects an absent, null or empty uid or resourceVersion with MISSING_FIELD naming it", () => {
  for (const field of ["uid", "resourceVersion"]) {
    for (const value of [undefined, null, ""]) {
      const metadata = { uid: "u-1", resourceVersion: "42", [field]: value };
      assert.deepEqual(metadataError(metadata), {
        code: "MISSING_FIELD",
        message: `Cannot read line 4: field "event.metadata.${field}" is missing`,
      }, `${field}: ${JSON.stringify(value)}`);
    }
  }
  for (const metadata of [undefined, null]) {
    assert.deepEqual(metadataError(metadata), {
      code: "MISSING_FIELD",
      message: 'Cannot read line 4: field "event.metadata" is missing',
    });
  }
});

Deno.test("parseRecordLine rejects a uid or resourceVersion of every other type with INVALID_FIELD", () => {
  const wrong: [unknown, string][] = [
    [5, "a number"],
    [0, "a number"],
    [-1.5, "a number"],
    [true, "a boolean"],
    [false, "a boolean"],
    [{}, "an object"],
    [{ value: "u-1" }, "an object"],
    [[], "an array"],
    [["u-1"], "an array"],
  ];
  for (const field of ["uid", "resourceVersion"]) {
    for (const [value, described] of wrong) {
      const metadata = { uid: "u-1", resourceVersion: "42", [field]: value };
      assert.deepEqual(metadataError(metadata), {
        code: "INVALID_FIELD",
        message: `Cannot read line 4: field "event.metadata.${field}" is ${described}, not a string`,
      }, `${field}: ${JSON.stringify(value)}`);
    }
  }
});

Deno.test("parseRecordLine rejects event.metadata that is not an object with INVALID_FIELD", () => {
  for (const [metadata, described] of [["u-1", "a string"], [7, "a number"], [true, "a boolean"], [[], "an array"]]) {
    assert.deepEqual(metadataError(metadata), {
      code: "INVALID_FIELD",
      message: `Cannot read line 4: field "event.metadata" is ${described}, not an object`,
    });
  }
});

Deno.test("parseRecordLine rejects malformed timestamps with INVALID_TIMESTAMP", () => {
  assert.equal(codeOf(eventLine({ observedAt: "yesterday" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({}, { lastTimestamp: "2026-13-45T99:00:00Z" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({}, { eventTime: 1700000000 })), "INVALID_TIMESTAMP");
});

Deno.test("parseRecordLine rejects an event without any timestamp with MISSING_TIMESTAMP", () => {
  assert.equal(codeOf(eventLine({}, { metadata: { uid: "u", resourceVersion: "1" } })), "MISSING_TIMESTAMP");
});

Deno.test("parseRecordLine rejects labels that are not a string map with INVALID_FIELD", () => {
  assert.equal(codeOf(eventLine({ enrichment: { labels: { app: 1 } } })), "INVALID_FIELD");
  assert.equal(codeOf(eventLine({ enrichment: "x" })), "INVALID_FIELD");
});

Deno.test("parseRecordLine accepts replacedVersions as a positive integer and refuses anything else", () => {
  const parsed = parseRecordLine(eventLine({ replacedVersions: 41 }), 1, options);
  assert.equal(parsed.ok && parsed.record.kind === "event" ? parsed.record.replacedVersions : "refused", 41);
  for (const value of [0, -1, 1.5, "2", null, 2 ** 53, { n: 1 }]) {
    const text = eventLine({ replacedVersions: value });
    const refused = parseRecordLine(text, 7, options);
    assert.deepEqual(refused, {
      ok: false,
      error: {
        line: 7,
        code: "INVALID_FIELD",
        message: 'Cannot read line 7: field "replacedVersions" must be a positive integer when present',
      },
    }, text);
  }
});

Deno.test("parseRecordLine checks gap fields", () => {
  const gap = { v: 1, kind: "gap", cluster: "c", observedAt: "2026-11-25T10:00:00Z", from: "1", to: "9", reason: "R" };
  assert.equal(codeOf(JSON.stringify({ ...gap, from: undefined })), "MISSING_FIELD");
  assert.equal(codeOf(JSON.stringify({ ...gap, from: 3 })), "INVALID_FIELD");
  assert.equal(codeOf(JSON.stringify({ ...gap, to: "" })), "INVALID_FIELD");
  assert.equal(codeOf(JSON.stringify({ ...gap, reason: undefined })), "MISSING_FIELD");
});

Deno.test("parseRecordLine rejects an unpaired surrogate escape in a value or key with INVALID_UNICODE", () => {
  const parsed = parseRecordLine(eventLine({}, { message: "broken \ud800 text" }), 4, options);
  assert.deepEqual(parsed, {
    ok: false,
    error: {
      line: 4,
      code: "INVALID_UNICODE",
      message: "Cannot store line 4: a string contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)",
    },
  });
  assert.equal(codeOf(eventLine({}, { reason: "\uDFFF" })), "INVALID_UNICODE");
  assert.equal(codeOf(eventLine({ enrichment: { labels: { ["k\udc00"]: "v" } } })), "INVALID_UNICODE");
  assert.equal(codeOf(eventLine({}, { annotations: { a: ["x", "\ud83d"] } })), "INVALID_UNICODE");
});

Deno.test("parseRecordLine accepts escaped surrogate pairs and a literal backslash-ud text", () => {
  const text = eventLine({}, { message: "rocket \ud83d\ude80 and \\ud800 as text" });
  assert.equal(text.includes("\\ud83d\\ude80"), false, "JSON.stringify writes the pair as UTF-16, not escaped");
  const escaped = text.replace("\ud83d\ude80", "\\ud83d\\ude80");
  for (const line of [text, escaped]) {
    const parsed = parseRecordLine(line, 1, options);
    assert.equal(parsed.ok, true);
    if (parsed.ok) assert.equal(parsed.view?.message, "rocket \ud83d\ude80 and \\ud800 as text");
  }
});

Deno.test("parseRecordLine rejects timestamps PostgreSQL cannot store with INVALID_TIMESTAMP", () => {
  assert.equal(codeOf(eventLine({}, { lastTimestamp: "0000-01-01T00:00:00Z" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({}, { lastTimestamp: "0001-01-01T00:30:00+01:00" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({}, { eventTime: "9999-12-31T23:30:00-01:00" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({}, { firstTimestamp: "2026-02-30T00:00:00Z" })), "INVALID_TIMESTAMP");
  assert.equal(codeOf(eventLine({ observedAt: "0000-06-01T00:00:00Z" })), "INVALID_TIMESTAMP");
  const edge = parseRecordLine(eventLine({}, { lastTimestamp: "0001-01-01T00:00:00Z" }), 1, options);
  assert.equal(edge.ok, true);
});

Deno.test("parseRecordLine rejects a uid or resourceVersion longer than KEY_FIELD_LENGTH_MAX with INVALID_FIELD", () => {
  const metadata = (extra: Record<string, unknown>) => ({
    metadata: { uid: "u-1", resourceVersion: "42", creationTimestamp: "2026-11-25T09:59:58Z", ...extra },
  });
  assert.equal(KEY_FIELD_LENGTH_MAX, 253);
  assert.equal(codeOf(eventLine({}, metadata({ uid: "u".repeat(254) }))), "INVALID_FIELD");
  assert.equal(codeOf(eventLine({}, metadata({ resourceVersion: "9".repeat(254) }))), "INVALID_FIELD");
  assert.equal(parseRecordLine(eventLine({}, metadata({ uid: "u".repeat(253) })), 1, options).ok, true);
});

Deno.test("parseRecordLine rejects gap fields longer than KEY_FIELD_LENGTH_MAX with INVALID_FIELD", () => {
  const gap = { v: 1, kind: "gap", cluster: "c", observedAt: "2026-11-25T10:00:00Z", from: "1", to: "9", reason: "R" };
  for (const field of ["from", "to", "reason"]) {
    const parsed = parseRecordLine(JSON.stringify({ ...gap, [field]: "x".repeat(254) }), 2, options);
    assert.deepEqual(parsed, {
      ok: false,
      error: {
        line: 2,
        code: "INVALID_FIELD",
        message: `Cannot read line 2: field "${field}" is longer than 253 characters`,
      },
    });
  }
});

Deno.test("parseRecordLine counts depth exactly: jsonDepthMax levels pass, one more is TOO_DEEP", () => {
  // The record itself is level 1, event 2, metadata 3; `extra` adds levels below the record.
  const nested = (levels: number) => JSON.parse("[".repeat(levels) + "]".repeat(levels));
  assert.equal(parseRecordLine(eventLine({ extra: nested(7) }), 1, options).ok, true);
  assert.equal(codeOf(eventLine({ extra: nested(8) })), "TOO_DEEP");
  const objects = (levels: number): Record<string, unknown> => levels === 1 ? {} : { a: objects(levels - 1) };
  assert.equal(parseRecordLine(eventLine({ extra: objects(7) }), 1, options).ok, true);
  assert.equal(codeOf(eventLine({ extra: objects(8) })), "TOO_DEEP");
});

/** An event line whose `event` carries `fields`, given as JSON text so that numbers keep their spelling. */
function eventLineWith(fields: string, overrides = ""): string {
  const line = eventLine();
  const at = line.indexOf('"metadata":');
  return line.slice(0, at) + fields + "," + line.slice(at) + overrides;
}

Deno.test("parseRecordLine keeps numbers a double would change as sent in the view it returns", () => {
  const parsed = parseRecordLine(
    eventLineWith('"count":12345678901234567890,"series":{"count":9007199254740993,"x":[1e400,1.50,-0]}'),
    1,
    options,
  );
  assert.equal(parsed.ok, true);
  if (!parsed.ok) return;
  assert.equal(
    JSON.stringify([parsed.view?.count, parsed.view?.series]),
    '[12345678901234567890,{"count":9007199254740993,"x":[1e400,1.50,-0]}]',
  );
});

Deno.test("parseRecordLine keeps a count above zero however it is written, and drops zero and negative ones", () => {
  const countOf = (count: string) => {
    const parsed = parseRecordLine(eventLineWith(`"count":${count}`), 1, options);
    assert.equal(parsed.ok, true, count);
    return parsed.ok ? JSON.stringify(parsed.view?.count) : "";
  };
  assert.deepEqual(
    ["3", "1e-400", "2.50", "12345678901234567890", "0", "0.0", "-1e-400", "-5"].map(countOf),
    ["3", "1e-400", "2.50", "12345678901234567890", undefined, undefined, undefined, undefined],
  );
});

Deno.test("parseRecordLine validates a line with exact numbers as before: version 1.0 is version 1", () => {
  assert.equal(parseRecordLine(eventLine().replace('"v":1', '"v":1.0'), 1, options).ok, true);
  assert.equal(codeOf(eventLine().replace('"v":1', '"v":1.5')), "UNSUPPORTED_VERSION");
});

Deno.test("parseRecordLine rejects a stored number PostgreSQL's numeric cannot hold with NUMBER_OUT_OF_RANGE", () => {
  const huge = "1" + "0".repeat(131_072);
  for (const fields of [`"count":${huge}`, `"series":{"a":[{"b":${huge}}]}`, `"source":{"x":1e-16384}`]) {
    const parsed = parseRecordLine(eventLineWith(fields), 5, options);
    assert.deepEqual(parsed, {
      ok: false,
      error: {
        line: 5,
        code: "NUMBER_OUT_OF_RANGE",
        message: "Cannot store line 5: the event holds a number PostgreSQL's numeric cannot hold " +
          "(more than 131072 digits before the decimal point or 16383 after it)",
      },
    }, fields.slice(0, 30));
  }
  // Fields that are not stored may hold any number; digits PostgreSQL can hold are fine anywhere.
  assert.equal(parseRecordLine(eventLineWith(`"annotations":{"a":${huge}}`), 1, options).ok, true);
  assert.equal(parseRecordLine(eventLineWith(`"count":${"9".repeat(131_072)}`), 1, options).ok, true);
});
