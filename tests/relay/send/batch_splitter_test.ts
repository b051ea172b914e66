import assert from "node:assert/strict";
import { createLogger } from "../../../shared/telemetry/log.ts";
import { addPartAnswer, sendSplitting } from "../../../relay/send/batch_splitter.ts";
import { gunzipLines, gzipLines } from "../../../relay/send/gzip_ndjson.ts";
import type { SendOutcome, StoredResponse } from "../../../relay/send/send_outcome.ts";

const LINES = ["a\n", "b\n", "c\n", "d\n", "e\n"];
const TOO_LARGE = { status: "refused", httpStatus: 413, code: "TOO_MANY_RECORDS" } as const;

/** A handler stand-in: `answer` decides for each posted part (decompressed); every post is recorded. */
function handler(answer: (lines: string[]) => SendOutcome) {
  const posts: [string, string | null][] = [];
  const logs: { level: string; msg: string }[] = [];
  const options = {
    resumeVersion: "99",
    post: async (body: Uint8Array<ArrayBuffer>, resumeVersion: string | null) => {
      const lines = await gunzipLines(body);
      posts.push([lines.join(""), resumeVersion]);
      return answer(lines);
    },
    logger: createLogger({ isDebug: false, write: (line) => logs.push(JSON.parse(line)) }),
  };
  return { options, posts, logs };
}

const stored = (lines: string[]): SendOutcome => ({
  status: "stored",
  response: { accepted: lines.length, duplicates: 0, rejected: [] },
});
/** Refuses with 413 any part of more than `max` lines. */
const atMost = (max: number) => (lines: string[]) => lines.length > max ? TOO_LARGE : stored(lines);

Deno.test("sendSplitting posts a batch the handler takes once, with its resume point", async () => {
  const { options, posts, logs } = handler(atMost(5));
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), stored(LINES));
  assert.deepEqual(posts, [["a\nb\nc\nd\ne\n", "99"]]);
  assert.deepEqual(logs, []);
});

Deno.test("sendSplitting halves a batch refused with 413 until the parts fit, the resume point on the last", async () => {
  const { options, posts } = handler(atMost(2));
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), stored(LINES));
  assert.deepEqual(posts, [
    ["a\nb\nc\nd\ne\n", "99"],
    ["a\nb\nc\n", null],
    ["a\nb\n", null],
    ["c\n", null],
    ["d\ne\n", "99"],
  ]);
});

Deno.test("sendSplitting decompresses a gzipped batch to split it", async () => {
  const { options, posts } = handler(atMost(3));
  const body = await gzipLines(LINES);
  assert.deepEqual(await sendSplitting({ body, records: 5 }, options), stored(LINES));
  assert.deepEqual(posts, [["a\nb\nc\nd\ne\n", "99"], ["a\nb\nc\n", null], ["d\ne\n", "99"]]);
});

Deno.test("sendSplitting drops only the record refused alone, at its line in the whole batch", async () => {
  const { options, logs } = handler((lines) => lines.includes("d\n") ? TOO_LARGE : stored(lines));
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), {
    status: "stored",
    response: {
      accepted: 4,
      duplicates: 0,
      rejected: [{
        line: 4,
        code: "TOO_MANY_RECORDS",
        message: "Cannot store the record: the handler refused it alone with 413 TOO_MANY_RECORDS",
      }],
    },
  });
  assert.deepEqual(logs.map((l) => [l.level, l.msg]), [
    ["warn", "handler refused a batch as too large; sending it in halves"],
    ["warn", "handler refused a batch as too large; sending it in halves"],
    ["error", "handler refused a single record as too large; it is dropped"],
  ]);
});

Deno.test("sendSplitting says a batch was halved for its refused rows when the handler's 413 is TOO_MANY_ROWS_REFUSED", async () => {
  const tooManyRefused = { status: "refused", httpStatus: 413, code: "TOO_MANY_ROWS_REFUSED" } as const;
  const { options, posts, logs } = handler((lines) => lines.length === 5 ? tooManyRefused : stored(lines));
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), stored(LINES));
  assert.equal(posts.length, 3);
  assert.deepEqual(logs.map((l) => [l.level, l.msg]), [
    ["warn", "handler refused a batch because the database refused too many of its rows; sending it in halves"],
  ]);
});

Deno.test("sendSplitting rejects every line of a half refused for its own reason and stores the other", async () => {
  const badRequest = { status: "refused", httpStatus: 400, code: "INVALID_NDJSON" } as const;
  const { options } = handler((lines) =>
    lines.length === 5 ? TOO_LARGE : lines[0] === "d\n" ? badRequest : stored(lines)
  );
  const message = "Cannot store the record: the handler refused its part of the batch with 400";
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), {
    status: "stored",
    response: {
      accepted: 3,
      duplicates: 0,
      rejected: [{ line: 4, code: "INVALID_NDJSON", message }, { line: 5, code: "INVALID_NDJSON", message }],
    },
  });
});

Deno.test("sendSplitting ends a split batch as fenced and sends nothing after the fenced half", async () => {
  const { options, posts } = handler((lines) => lines.length === 5 ? TOO_LARGE : { status: "fenced" });
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), { status: "fenced" });
  assert.deepEqual(posts.map(([body]) => body), ["a\nb\nc\nd\ne\n", "a\nb\nc\n"]);
});

Deno.test("sendSplitting passes a refusal other than 413 on as it is", async () => {
  const unsupported = { status: "refused", httpStatus: 415, code: "UNSUPPORTED_MEDIA_TYPE" } as const;
  const { options, posts } = handler(() => unsupported);
  assert.deepEqual(await sendSplitting({ lines: LINES }, options), unsupported);
  assert.equal(posts.length, 1);
});

Deno.test("addPartAnswer moves the part's line numbers by its offset and sums its counts", () => {
  const response: StoredResponse = { accepted: 2, duplicates: 1, rejected: [{ line: 1, code: "A", message: "m" }] };
  addPartAnswer(response, {
    status: "stored",
    response: { accepted: 3, duplicates: 2, rejected: [{ line: 2, code: "MISSING_FIELD", message: "Cannot read" }] },
  }, { offset: 4, records: 6 });
  assert.deepEqual(response, {
    accepted: 5,
    duplicates: 3,
    rejected: [{ line: 1, code: "A", message: "m" }, { line: 6, code: "MISSING_FIELD", message: "Cannot read" }],
  });
});
