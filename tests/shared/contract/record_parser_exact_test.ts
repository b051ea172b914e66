/**
 * parseRecordLine reads a line a second time with its numbers as sent only when its stored numbers may need it. This
 * checks the choice against the path it replaced, which read exactly every line mayHoldInexactNumber picks: the same
 * view (so the same stored event) and the same refusal for every line.
 */
import assert from "node:assert/strict";
import { findUnstorableNumber, mayHoldInexactNumber, parseExactJson } from "../../../shared/contract/exact_json.ts";
import { DEFAULT_LIMITS } from "../../../shared/contract/limits.ts";
import { toEventView } from "../../../shared/contract/event_view.ts";
import { parseRecordLine } from "../../../shared/contract/record_parser.ts";

const options = { jsonDepthMax: DEFAULT_LIMITS.jsonDepthMax };

/** Number tokens a double keeps as sent and ones it does not, zero and negative ones, the largest numeric holds. */
const TOKENS = [
  "1",
  "7",
  "-5",
  "0",
  "-0",
  "123456789012345",
  "1234567890123456",
  "12345678901234567890",
  "9007199254740993",
  "1.0",
  "2.50",
  "0.0",
  "1e-400",
  "-1e-400",
  "1e400",
  "1E5",
  "1e+5",
  "-0.0",
  "1" + "0".repeat(131_072),
  "1e-16384",
];

/** Where a number can sit in an event: stored (count, series, source) or not, with keys as JSON may spell them. */
const PLACES = [
  (t: string) => `"count":${t}`,
  (t: string) => `"count" :\t${t}`,
  (t: string) => `"count":\r\n ${t}`,
  (t: string) => `"deprecatedCount":${t}`,
  (t: string) => `"count":null,"deprecatedCount":${t}`,
  (t: string) => `"count":${t},"count":2`,
  (t: string) => `"count":2,"count":${t}`,
  (t: string) => `"\\u0063ount":${t}`,
  (t: string) => `"coun\\u0074":${t}`,
  (t: string) => `"deprecated\\u0043ount":${t}`,
  (t: string) => `"series":{"count":${t},"lastObservedTime":"2026-11-25T10:00:00Z"}`,
  (t: string) => `"series":{"items":[1,[${t}]]}`,
  (t: string) => `"source":{"component":"kubelet","n":${t}}`,
  (t: string) => `"source":{"\\u006e":[${t}]}`,
  (t: string) => `"annotations":{"count":${t}}`,
  (t: string) => `"amount":${t}`,
  (t: string) => `"note":"amount\\":${t}","count":3`,
  (t: string) => `"extra":[${t},{"count":${t}}]`,
];

function eventLineWith(fields: string): string {
  return `{"v":1,"kind":"event","cluster":"prod-eu","observedAt":"2026-11-25T10:00:00Z","event":{${fields},` +
    `"metadata":{"uid":"u-1","resourceVersion":"42","creationTimestamp":"2026-11-25T09:59:58Z"},` +
    `"involvedObject":{"kind":"Pod","name":"web-0"}}}`;
}

/**
 * What parseRecordLine must return for a valid event line, as the path it replaced computed it: the view of the exact
 * parse when mayHoldInexactNumber picks the line, else of the plain one; NUMBER_OUT_OF_RANGE for an unstorable number.
 */
function readExactly(text: string): string {
  const value = mayHoldInexactNumber(text) ? parseExactJson(text) : JSON.parse(text);
  const view = toEventView((value as { event: Record<string, unknown> }).event)!;
  return findUnstorableNumber(view) === undefined ? JSON.stringify(view) : "NUMBER_OUT_OF_RANGE";
}

function readByParser(text: string): string {
  const parsed = parseRecordLine(text, 1, options);
  if (!parsed.ok) return parsed.error.code;
  return JSON.stringify(parsed.view);
}

Deno.test("parseRecordLine returns the view of an exact parse for every number token in every place", () => {
  let checked = 0;
  for (const token of TOKENS) {
    for (const place of PLACES) {
      const text = eventLineWith(place(token));
      assert.equal(readByParser(text), readExactly(text), text.slice(0, 160));
      checked++;
    }
  }
  assert.equal(checked, TOKENS.length * PLACES.length);
});

Deno.test("parseRecordLine reads a count written inexactly as sent, and a plain one as a number", () => {
  const countOf = (fields: string) =>
    JSON.stringify(
      (parseRecordLine(eventLineWith(fields), 1, options) as {
        view: { count?: unknown };
      }).view.count,
    );
  assert.equal(countOf('"count":1.50'), "1.50");
  assert.equal(countOf('"\\u0063ount":1.50'), "1.50");
  assert.equal(countOf('"count":null,"deprecatedCount":1e-400'), "1e-400");
  assert.equal(countOf('"count":12'), "12");
  assert.equal(countOf('"amount":1.50,"count":4'), "4");
});

Deno.test("parseRecordLine returns the view of an exact parse for every fixture event", () => {
  const lines = [
    ...Deno.readTextFileSync(new URL("../../fixtures/core_v1.ndjson", import.meta.url)).split("\n"),
    ...Deno.readTextFileSync(new URL("../../fixtures/events_v1.ndjson", import.meta.url)).split("\n"),
  ].filter((line) => line !== "");
  assert.equal(lines.length, 54);
  for (const [index, event] of lines.entries()) {
    const text = `{"v":1,"kind":"event","cluster":"prod","observedAt":"2026-11-25T10:00:00Z","event":${event}}`;
    assert.equal(readByParser(text), readExactly(text), `fixture ${index + 1}`);
  }
});
