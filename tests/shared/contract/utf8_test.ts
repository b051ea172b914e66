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
