import assert from "node:assert/strict";
import { toUtf8Length } from "../../../relay/pipeline/queue_item.ts";

const encodedLength = (text: string) => new TextEncoder().encode(text).length;

Deno.test("toUtf8Length counts what TextEncoder writes: ASCII, 2-, 3- and 4-byte characters, lone surrogates", () => {
  const texts = ["", "a", '{"a":"b"}', "é", "€", "😀", "a😀b", "\ud800", "\udc00x", "x\ud800", "\ud83d\ud83d\ude00"];
  assert.deepEqual(texts.map(toUtf8Length), [0, 1, 9, 2, 3, 4, 6, 3, 4, 4, 7]);
  assert.deepEqual(texts.map(toUtf8Length), texts.map(encodedLength));
});

Deno.test("toUtf8Length counts text that does not fit its buffer, at and around the boundary", () => {
  for (const units of [64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300 * 1024]) {
    assert.equal(toUtf8Length("a".repeat(units)), units);
    // Multi-byte text of as many units needs up to three times the bytes: the buffer runs out part way.
    const euros = "€".repeat(units);
    assert.equal(toUtf8Length(euros), units * 3);
    const mixed = "a".repeat(units - 1) + "😀";
    assert.equal(toUtf8Length(mixed), encodedLength(mixed));
  }
});
