import assert from "node:assert/strict";
import { readBatchHeaders } from "../../../../handler/http/events/batch_headers.ts";

Deno.test("readBatchHeaders reads fence and resume version", () => {
  const headers = new Headers({
    "ingester-fence-holder": "relay-7f9 pod",
    "ingester-fence-transitions": "12",
    "ingester-resume-version": "123456",
  });
  assert.deepEqual(readBatchHeaders(headers), {
    fence: { holder: "relay-7f9 pod", transitions: 12 },
    resumeVersion: "123456",
  });
});

Deno.test("readBatchHeaders gives nulls when the headers are absent", () => {
  assert.deepEqual(readBatchHeaders(new Headers()), { fence: null, resumeVersion: null });
});

Deno.test("readBatchHeaders refuses malformed headers with INVALID_HEADER", () => {
  const cases: [Record<string, string>, string][] = [
    [
      { "ingester-fence-holder": "a" },
      "Cannot read the fence: send ingester-fence-holder and ingester-fence-transitions together, or neither",
    ],
    [
      { "ingester-fence-holder": "a", "ingester-fence-transitions": "-1" },
      'Cannot read ingester-fence-transitions: "-1" is not a non-negative whole number',
    ],
    [
      { "ingester-fence-holder": "", "ingester-fence-transitions": "1" },
      "Cannot read ingester-fence-holder: it must be 1-256 printable ASCII characters",
    ],
    [
      { "ingester-resume-version": "x".repeat(257) },
      "Cannot read ingester-resume-version: it must be 1-256 printable ASCII characters",
    ],
    [
      { "ingester-resume-version": "12 34" },
      "Cannot read ingester-resume-version: it must be 1-256 printable ASCII characters",
    ],
  ];
  for (const [headers, message] of cases) {
    assert.throws(() => readBatchHeaders(new Headers(headers)), { name: "HttpError", code: "INVALID_HEADER", message });
  }
});
