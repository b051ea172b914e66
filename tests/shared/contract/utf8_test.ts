import assert from "node:assert/strict";
import { toUtf8Length, UTF8_BYTES_PER_UNIT_MAX } from "../../../shared/contract/utf8.ts";

Deno.test("toUtf8Length counts the bytes TextEncoder writes, unpaired surrogates as U+FFFD", () => {
  const texts = [
    "",
    "plain ASCII",
    "é ü ß",
    "€ 中文",
    "🎉 and 𝄞",
    "\ud800",
    "a\udc00b",
    "\udbff\udfff",
    "\udc00\ud800",
  ];
  for (const text of texts) {
    assert.equal(toUtf8Length(text), new TextEncoder().encode(text).length, JSON.stringify(text));
  }
});

Deno.test("UTF8_BYTES_PER_UNIT_MAX bounds the bytes of every kind of code unit", () => {
  for (const text of ["a", "é", "€", "🎉", "\ud800"]) {
    assert.ok(new TextEncoder().encode(text).length <= text.length * UTF8_BYTES_PER_UNIT_MAX, JSON.stringify(text));
  }
});

const encodedLength = (text: string) => new TextEncoder().encode(text).length;

Deno.test("toUtf8Length gives exact sizes of short texts: ASCII, 2-, 3- and 4-byte characters, lone surrogates", () => {
  const texts = ["", "a", '{"a":"b"}', "é", "€", "😀", "a😀b", "\ud800", "\udc00x", "x\ud800", "\ud83d\ud83d\ude00"];
  assert.deepEqual(texts.map(toUtf8Length), [0, 1, 9, 2, 3, 4, 6, 3, 4, 4, 7]);
  assert.deepEqual(texts.map(toUtf8Length), texts.map(encodedLength));
});

Deno.test("toUtf8Length counts text that does not fit its scratch buffer, at and around the boundary", () => {
  for (const units of [64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300 * 1024]) {
    assert.equal(toUtf8Length("a".repeat(units)), units);
    // Multi-byte text of as many units needs up to three times the bytes: the buffer runs out part way.
    const euros = "€".repeat(units);
    assert.equal(toUtf8Length(euros), units * 3);
    const mixed = "a".repeat(units - 1) + "😀";
    assert.equal(toUtf8Length(mixed), encodedLength(mixed));
    const lone = "a".repeat(units - 1) + "\ud800";
    assert.equal(toUtf8Length(lone), encodedLength(lone));
  }
});
