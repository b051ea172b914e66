/**
 * UTF-8 sizes of JavaScript text (UTF-16), for limits counted in bytes without encoding the text.
 */

/** UTF-8 takes at most three bytes for one UTF-16 code unit (a surrogate pair: four bytes for its two units). */
export const UTF8_BYTES_PER_UNIT_MAX = 3;

/**
 * The number of bytes TextEncoder writes for `text`: one to three a code unit, four a surrogate pair, and three for an
 * unpaired surrogate (written as U+FFFD). Text that fits a kept scratch buffer is encoded into it and thrown away
 * (native, about five times faster than counting; the relay sizes every queued event this way); longer text is
 * counted, so that a long line never allocates its encoding.
 */
export function toUtf8Length(text: string): number {
  if (text.length <= UTF8_SCRATCH.length) {
    const { read, written } = UTF8_ENCODER.encodeInto(text, UTF8_SCRATCH);
    if (read === text.length) return written;
  }
  return countUtf8Bytes(text);
}

const UTF8_ENCODER = new TextEncoder();
/** Room for 64 KiB of ASCII; an event rarely exceeds a few KiB. */
const UTF8_SCRATCH = new Uint8Array(64 * 1024);

function countUtf8Bytes(text: string): number {
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
