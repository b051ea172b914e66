/**
 * JSON numbers kept as sent. JSON.parse turns every number into a double and JSON.stringify writes the double back,
 * so `12345678901234567890` would be stored as `12345678901234567000`, `9007199254740993` as `9007199254740992`,
 * `1e400` as `null` and `1e-400` as `0`. A line that may hold such a number is parsed a second time with each number's
 * own text (JSON.parse source text access), kept as JSON.rawJSON so that JSON.stringify writes the text unchanged.
 */

/** A number kept as its JSON text: JSON.stringify writes `rawJSON` as it is. Made by JSON.rawJSON, frozen. */
export interface RawJsonNumber {
  readonly rawJSON: string;
}

/** What V8 provides beyond the JSON type TypeScript knows (source text access, shipped in Deno 2.9's V8 15). */
interface SourceTextJson {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON(text: string): RawJsonNumber;
  isRawJSON(value: unknown): value is RawJsonNumber;
}

const SOURCE_TEXT_JSON = JSON as unknown as SourceTextJson;

if (typeof SOURCE_TEXT_JSON.rawJSON !== "function" || typeof SOURCE_TEXT_JSON.isRawJSON !== "function") {
  throw new TypeError("Cannot keep JSON numbers as sent: this runtime has no JSON.rawJSON (Deno 2.9 or later has)");
}

/**
 * A number token JSON.parse and JSON.stringify might not write back as sent: one with a fraction or an exponent, or
 * with 16 digits or more. Integers of up to 15 digits are exact doubles, which JSON.stringify writes as they were
 * sent (`-0` excepted: it is written `0`, the value PostgreSQL's numeric holds for `-0` too). A number token always
 * follows a key's colon (the first expression) or an array's `[` or `,` (the second); the same characters inside a
 * string match as well, which only costs the second parse. Two expressions, because V8 runs the pair faster than
 * their alternation (measured 1.3 µs against 1.6 µs on a 1.5 kB event line).
 */
const MAYBE_INEXACT_VALUE = /"\s*:\s*-?(?:\d{16}|\d+[.eE])/;
const MAYBE_INEXACT_ITEM = /[\[,]\s*-?(?:\d{16}|\d+[.eE])/;

/**
 * True when the JSON text may hold a number that a plain JSON.parse would not keep as sent (see the expressions
 * above); false guarantees that every number of the text survives JSON.parse and JSON.stringify. Two regular
 * expression tests over the text, so ordinary lines pay little for the guarantee.
 */
export function mayHoldInexactNumber(text: string): boolean {
  return MAYBE_INEXACT_VALUE.test(text) || MAYBE_INEXACT_ITEM.test(text);
}

/** True when a JSON number token starts at `at` and may not survive JSON.parse (the test of MAYBE_INEXACT_VALUE). */
function isInexactTokenAt(text: string, at: number): boolean {
  let i = at;
  if (text.charCodeAt(i) === 45) i++; // "-"
  const digitsStart = i;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i));
  const digits = i - digitsStart;
  if (digits >= 16) return true;
  const next = text.charCodeAt(i);
  return digits > 0 && (next === 46 || next === 101 || next === 69); // ".", "e", "E"
}

function isJsonSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

/**
 * True when some value after a key ending in `suffix` (which must end with the key's closing quote, as `ount"`) may
 * be a number a plain JSON.parse would not keep as sent, by the test mayHoldInexactNumber applies after every key.
 * Reads only the text after each occurrence of `suffix` (found with indexOf), so it costs far less than
 * mayHoldInexactNumber on a line with many keys. Keys are matched as written: a key spelled with `\u` escapes is not
 * found, so the caller must not rely on this for a text that holds `\u`.
 */
export function mayHoldInexactNumberAfterKey(text: string, suffix: string): boolean {
  for (let at = text.indexOf(suffix); at !== -1; at = text.indexOf(suffix, at + 1)) {
    let i = at + suffix.length;
    while (isJsonSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 58) continue; // ":"
    i++;
    while (isJsonSpace(text.charCodeAt(i))) i++;
    if (isInexactTokenAt(text, i)) return true;
  }
  return false;
}

/** True when a number (of any value) is at any depth of `value`. */
export function hasNumber(value: unknown): boolean {
  if (typeof value === "number") return true;
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasNumber(value[i])) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (hasNumber(record[key])) return true;
  return false;
}

function keepNumberText(_key: string, value: unknown, context: { source?: string }): unknown {
  if (typeof value !== "number" || context.source === undefined) return value;
  // String(value) is what JSON.stringify would write; a number that already reads so stays a plain number.
  return context.source === String(value) ? value : SOURCE_TEXT_JSON.rawJSON(context.source);
}

/**
 * JSON.parse with numbers kept as sent: a number that JSON.stringify would not write back as its own text comes out
 * as a RawJsonNumber holding that text; every other value is what JSON.parse gives. Throws SyntaxError as JSON.parse.
 * About six times slower than JSON.parse, so it is meant for the lines mayHoldInexactNumber picks.
 */
export function parseExactJson(text: string): unknown {
  return SOURCE_TEXT_JSON.parse(text, keepNumberText);
}

/** True for a number kept as its text by parseExactJson. */
export function isRawJsonNumber(value: unknown): value is RawJsonNumber {
  return SOURCE_TEXT_JSON.isRawJSON(value);
}

/** True for a number above zero, read exactly: a RawJsonNumber `1e-400` is above zero, though no double is. */
export function isPositiveNumber(value: unknown): value is number | RawJsonNumber {
  if (typeof value === "number") return value > 0;
  if (!isRawJsonNumber(value)) return false;
  const text = value.rawJSON;
  if (text.charCodeAt(0) === 45) return false;
  const end = text.search(/[eE]/);
  return /[1-9]/.test(end === -1 ? text : text.slice(0, end));
}

/**
 * The bounds of PostgreSQL's numeric, in which jsonb keeps numbers: at most 131,072 digits before the decimal point
 * and 16,383 after it, counted once the exponent is applied (`1e131071` fits, `1e131072` does not; `1e-16383` fits,
 * `1.0e-16383` needs 16,384 fraction digits and does not). PostgreSQL 15 also refuses an exponent of 1,073,741,823 or
 * more even on zero. Measured on PostgreSQL 15 and 18.
 */
export const NUMERIC_INTEGER_DIGITS_MAX = 131_072;
export const NUMERIC_FRACTION_DIGITS_MAX = 16_383;
const NUMERIC_EXPONENT_MAX = 1_073_741_822;

const NUMBER_PARTS = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** True when PostgreSQL's jsonb accepts the JSON number text (see NUMERIC_INTEGER_DIGITS_MAX). */
export function isStorableNumber(text: string): boolean {
  const parts = NUMBER_PARTS.exec(text);
  if (parts === null) return false;
  const integer = parts[1]!;
  const fraction = parts[2] ?? "";
  const exponent = parts[3] === undefined ? 0 : Number(parts[3]);
  if (!(Math.abs(exponent) <= NUMERIC_EXPONENT_MAX)) return false;
  if (fraction.length - exponent > NUMERIC_FRACTION_DIGITS_MAX) return false;
  const digits = integer + fraction;
  const leading = digits.search(/[1-9]/);
  if (leading === -1) return true;
  // The power of ten of the leading digit; the value has that many digits plus one before its decimal point.
  const power = integer.length - 1 - leading + exponent;
  return power < NUMERIC_INTEGER_DIGITS_MAX;
}

/**
 * The first number, at any depth of `value`, that PostgreSQL's jsonb would refuse (see isStorableNumber), as its
 * JSON text; undefined when all fit. Only numbers kept as text can be too large: every double fits.
 */
export function findUnstorableNumber(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (isRawJsonNumber(value)) return isStorableNumber(value.rawJSON) ? undefined : value.rawJSON;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findUnstorableNumber(item);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const found = findUnstorableNumber(record[key]);
    if (found !== undefined) return found;
  }
  return undefined;
}
