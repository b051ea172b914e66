/**
 * UTF-8 sizes of JavaScript text (UTF-16), for limits counted in bytes without encoding the text.
 */

/** UTF-8 takes at most three bytes for one UTF-16 code unit (a surrogate pair: four bytes for its two units). */
export const UTF8_BYTES_PER_UNIT_MAX = 3;

/**
 * The number of bytes TextEncoder writes for `text`: one to three a code unit, four a surrogate pair, and three for an
 * unpaired surrogate (written as U+FFFD).
 */
export function toUtf8Length(text: string): number {
  let bytes = 0;
  const end = text.length;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
