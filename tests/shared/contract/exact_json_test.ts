import assert from "node:assert/strict";
import postgres from "postgres";
import {
  findUnstorableNumber,
  hasNumber,
  isPositiveNumber,
  isRawJsonNumber,
  isStorableNumber,
  mayHoldInexactNumber,
  mayHoldInexactNumberAfterKey,
  parseExactJson,
} from "../../../shared/contract/exact_json.ts";
import { testDatabaseUrl } from "../../support/database.ts";

const fixtureEvents = [
  ...Deno.readTextFileSync(new URL("../../fixtures/core_v1.ndjson", import.meta.url)).split("\n"),
  ...Deno.readTextFileSync(new URL("../../fixtures/events_v1.ndjson", import.meta.url)).split("\n"),
].filter((line) => line !== "");

/** Numbers a double does not keep as sent, or writes back in other words. */
const INEXACT = [
  "12345678901234567890",
  "9007199254740993",
  "1e400",
  "-1e400",
  "1e-400",
  "1E5",
  "1e+5",
  "0.1",
  "1.50",
  "1.0",
  "-0.0",
  "1234567890123456",
  "9".repeat(200),
  "-" + "9".repeat(200),
];

Deno.test("mayHoldInexactNumber is false for every real fixture event, alone and in a record line", () => {
  assert.equal(fixtureEvents.length, 54);
  for (const [index, line] of fixtureEvents.entries()) {
    assert.equal(mayHoldInexactNumber(line), false, `fixture ${index + 1}`);
    const record = {
      v: 1,
      kind: "event",
      cluster: "prod",
      observedAt: "2026-11-25T10:00:00.123456Z",
      event: JSON.parse(line),
      enrichment: { labels: { app: "web" }, compositionId: "3f1a0c6e-52b4-4f3e-9d1c-1a2b3c4d5e6f" },
    };
    assert.equal(mayHoldInexactNumber(JSON.stringify(record)), false, `fixture ${index + 1} as a record`);
  }
});

Deno.test("mayHoldInexactNumber finds an inexact number after a key, as an array's first or later item, spaced", () => {
  for (const number of INEXACT) {
    for (
      const text of [
        `{"a":${number}}`,
        `{"a" :\t${number}}`,
        `{"a":[${number}]}`,
        `{"a":[ ${number} ]}`,
        `{"a":[1,${number}]}`,
        `{"a":[1,\r\n ${number}]}`,
        `{"a":{"b":[[{"c":${number}}]]}}`,
      ]
    ) {
      assert.equal(mayHoldInexactNumber(text), true, text);
    }
  }
});

Deno.test("mayHoldInexactNumber passes integers of up to 15 digits and numbers-like text inside strings", () => {
  for (const number of ["0", "-0", "7", "-42", "123456789012345", "-999999999999999"]) {
    assert.equal(mayHoldInexactNumber(`{"a":${number},"b":[${number},${number}]}`), false, number);
  }
  const strings = {
    eventTime: "2026-11-25T10:00:00.123456Z",
    message: "pulled in 1.284s: 48213451 bytes; id 12345678901234567890 (1e5 layers)",
    uid: "9b7a04bf-811e-483e-826e-82c7b9e81ca7",
  };
  assert.equal(mayHoldInexactNumber(JSON.stringify(strings)), false);
  // Inside a string, the same characters as a number after a comma: a false positive, which costs a second parse.
  assert.equal(mayHoldInexactNumber(JSON.stringify({ message: "took 0.5, 1.5 and 2.5 s" })), true);
});

Deno.test("a line mayHoldInexactNumber passes keeps every number through JSON.parse and JSON.stringify", () => {
  // Every number token of 1 to 20 characters built from digits, sign, fraction and exponent parts.
  const tokens = new Set<string>();
  const integers = ["0", "1", "9", "10", "100000", "123456789012345", "999999999999999", "1000000000000000"];
  for (const integer of [...integers, "9007199254740993", "12345678901234567890"]) {
    for (const sign of ["", "-"]) {
      for (const fraction of ["", ".0", ".5", ".50", ".1234567890123456789"]) {
        for (const exponent of ["", "e0", "E5", "e+2", "e-7", "e400", "e-400"]) {
          tokens.add(sign + integer + fraction + exponent);
        }
      }
    }
  }
  for (const token of tokens) {
    const text = `{"a":${token},"b":[${token}],"c":[0,${token}]}`;
    if (mayHoldInexactNumber(text)) continue;
    const expected = token === "-0" ? "0" : token;
    assert.equal(JSON.stringify(JSON.parse(text)), `{"a":${expected},"b":[${expected}],"c":[0,${expected}]}`);
  }
});

Deno.test("parseExactJson keeps each number's text and leaves numbers a double writes back as numbers", () => {
  const text = `{"n":[${INEXACT.join(",")}],"o":{"deep":[{"x":-0}]},"plain":[5,-12,0.5,1e-7,1e+21,0]}`;
  const value = parseExactJson(text) as { n: unknown[]; plain: unknown[] };
  assert.equal(JSON.stringify(value), text);
  // JSON.stringify writes 0.1 and 1234567890123456 back as sent, so they stay numbers; all others are kept as text.
  const writtenBack = ["0.1", "1234567890123456"];
  assert.deepEqual(value.n.map(isRawJsonNumber), INEXACT.map((text) => !writtenBack.includes(text)));
  assert.deepEqual(value.plain, [5, -12, 0.5, 1e-7, 1e21, 0]);
  assert.equal(JSON.stringify(parseExactJson('{"s":"1.50","t":true,"u":null}')), '{"s":"1.50","t":true,"u":null}');
});

Deno.test("parseExactJson throws SyntaxError on text that is not JSON, as JSON.parse", () => {
  assert.throws(() => parseExactJson("{1.50}"), SyntaxError);
});

Deno.test("isPositiveNumber reads kept number text exactly", () => {
  const raw = (text: string) => (parseExactJson(`[${text}]`) as unknown[])[0];
  assert.deepEqual(
    ["1e-400", "-1e-400", "0.0", "0e5", "0.000e-3", "12345678901234567890", "-12345678901234567890", "1e400"]
      .map((text) => isPositiveNumber(raw(text))),
    [true, false, false, false, false, true, false, true],
  );
  assert.deepEqual([3, 0, -1, "3", null].map(isPositiveNumber), [true, false, false, false, false]);
});

Deno.test("findUnstorableNumber finds a number too large or too fine for jsonb at any depth", () => {
  const huge = "1" + "0".repeat(131_072);
  const value = parseExactJson(`{"a":[1,{"b":[2,${huge}]}],"c":1e-400}`);
  assert.equal(findUnstorableNumber(value), huge);
  assert.equal(findUnstorableNumber(parseExactJson(`{"a":[1e400,1e-400,${"9".repeat(200)}]}`)), undefined);
  assert.equal(findUnstorableNumber({ a: [1e308, "1e999999"] }), undefined);
});

Deno.test("isStorableNumber agrees with PostgreSQL's jsonb input at the bounds of numeric", async () => {
  const texts = [
    "0",
    "-0",
    "1e400",
    "1e-400",
    "1e131071",
    "1e131072",
    "-1e131071",
    "100e131069",
    "100e131070",
    "0.0001e131075",
    "0.0001e131076",
    "9".repeat(131_072),
    "9".repeat(131_073),
    "1e-16383",
    "1e-16384",
    "1.0e-16383",
    "0.00001e-16379",
    "0e-16383",
    "0e-16384",
    "0." + "0".repeat(16_382) + "1",
    "0." + "0".repeat(16_383) + "1",
    "0e200000",
    "0e1073741822",
    "0e99999999999",
    "1e99999999999",
    "1e-99999999999",
    "1e0000000000000000000005",
  ];
  const sql = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
  try {
    for (const text of texts) {
      let isAccepted = true;
      try {
        // Through text: a parameter typed jsonb would be sent as a JSON string.
        await sql`select ${text}::text::jsonb`;
      } catch (error) {
        assert.equal((error as { code?: string }).code, "22003", `${text.slice(0, 30)}: ${error}`);
        isAccepted = false;
      }
      assert.equal(isStorableNumber(text), isAccepted, `${text.slice(0, 30)} (${text.length} characters)`);
    }
  } finally {
    await sql.end();
  }
});

Deno.test("mayHoldInexactNumberAfterKey applies the test of mayHoldInexactNumber after each key ending in the suffix", () => {
  for (const number of INEXACT) {
    for (
      const text of [`{"count":${number}}`, `{"a":1,"deprecatedCount" :\t${number}}`, `{"count":1,"count":${number}}`]
    ) {
      assert.equal(mayHoldInexactNumberAfterKey(text, 'ount"'), true, text);
    }
    // Other keys, values that are strings, and the suffix inside a string are not read.
    for (
      const text of [
        `{"a":${number},"count":1}`,
        `{"count":"${number}"}`,
        `{"m":"amount\\":${number}"}`,
        `{"ount":[${number}]}`,
      ]
    ) {
      assert.equal(mayHoldInexactNumberAfterKey(text, 'ount"'), false, text);
    }
  }
  for (const number of ["0", "-0", "7", "-42", "123456789012345", "-999999999999999"]) {
    assert.equal(mayHoldInexactNumberAfterKey(`{"count":${number}}`, 'ount"'), false, number);
  }
  assert.equal(mayHoldInexactNumberAfterKey('{"count":', 'ount"'), false);
});

Deno.test("hasNumber finds a number at any depth, and nothing in strings, booleans and null", () => {
  assert.equal(hasNumber({ a: [{ b: [0] }] }), true);
  assert.equal(hasNumber(-1), true);
  assert.equal(hasNumber({ a: ["1", true, null, { b: "2.5" }] }), false);
  assert.equal(hasNumber(undefined), false);
});
