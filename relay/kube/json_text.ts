/**
 * Finding the spans of JSON values in a text without parsing it: enough structure to cut one member out of an object
 * or to split an array into the texts of its elements, so that the relay copies text instead of parsing and
 * re-serialising it. The scanner trusts nothing: whatever it does not recognise as well-formed JSON makes it answer
 * undefined (or -1), and callers then take the parsing path, which reports the error as before.
 */

/** One member of an object: its decoded key and where its key and value lie in the text. */
export interface JsonMember {
  key: string;
  /** Index of the key's opening quote. */
  keyStart: number;
  /** Index of the value's first character. */
  valueStart: number;
  /** Index just after the value's last character. */
  valueEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Index of the first character at or after `index` that is not JSON whitespace (the text's length at the end). */
export function skipJsonSpace(text: string, index: number): number {
  let i = index;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
  return i;
}

/**
 * Index just after the string whose opening quote is at `start`, or -1 when it does not end. Escapes are skipped, not
 * checked: a string the scanner accepts with a bad escape is refused later by the JSON.parse of whoever reads it.
 */
export function skipJsonString(text: string, start: number): number {
  let i = start + 1;
  while (true) {
    const quote = text.indexOf('"', i);
    if (quote === -1) return -1;
    // The quote is escaped when an odd number of backslashes precedes it.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

/**
 * Index just after the JSON value that starts at `start` (after optional whitespace), or -1 when no complete value
 * starts there. Nesting is followed by bracket counting; scalars (numbers, true, false, null) run to the next
 * delimiter and are not checked further.
 */
export function skipJsonValue(text: string, start: number): number {
  let i = skipJsonSpace(text, start);
  if (i >= text.length) return -1;
  const first = text.charCodeAt(i);
  if (first === QUOTE) return skipJsonString(text, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) return skipJsonScalar(text, i);
  const stack: number[] = [];
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = skipJsonString(text, i);
      if (i === -1) return -1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) stack.push(c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET);
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** A number, true, false or null, exactly (JSON's number grammar); -1 when none starts at `start`. */
function skipJsonScalar(text: string, start: number): number {
  SCALAR.lastIndex = start;
  const match = SCALAR.exec(text);
  return match === null ? -1 : start + match[0].length;
}

/** JSON's literals and number grammar, anchored where `lastIndex` says (sticky). */
const SCALAR = /true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * The members of the object whose `{` is at `start`, in text order, and the index just after its `}`; undefined when
 * no well-formed object starts there. Keys are decoded (JSON.parse when they hold an escape).
 */
export function readJsonMembers(text: string, start: number): { members: JsonMember[]; end: number } | undefined {
  if (text.charCodeAt(start) !== OPEN_BRACE) return undefined;
  const members: JsonMember[] = [];
  let i = skipJsonSpace(text, start + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return { members, end: i + 1 };
  while (true) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = skipJsonString(text, i);
    if (keyEnd === -1) return undefined;
    const key = toJsonStringValue(text, i, keyEnd);
    if (key === undefined) return undefined;
    const colon = skipJsonSpace(text, keyEnd);
    if (text.charCodeAt(colon) !== COLON) return undefined;
    const valueStart = skipJsonSpace(text, colon + 1);
    const valueEnd = skipJsonValue(text, valueStart);
    if (valueEnd === -1) return undefined;
    members.push({ key, keyStart: i, valueStart, valueEnd });
    i = skipJsonSpace(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return { members, end: i + 1 };
    if (c !== COMMA) return undefined;
    i = skipJsonSpace(text, i + 1);
  }
}

/**
 * The element spans of the array whose `[` is at `start`, and the index just after its `]`; undefined when no
 * well-formed array starts there.
 */
export function readJsonElements(
  text: string,
  start: number,
): { elements: { start: number; end: number }[]; end: number } | undefined {
  if (text.charCodeAt(start) !== OPEN_BRACKET) return undefined;
  const elements: { start: number; end: number }[] = [];
  let i = skipJsonSpace(text, start + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return { elements, end: i + 1 };
  while (true) {
    const end = skipJsonValue(text, i);
    if (end === -1) return undefined;
    elements.push({ start: i, end });
    i = skipJsonSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACKET) return { elements, end: i + 1 };
    if (c !== COMMA) return undefined;
    i = skipJsonSpace(text, i + 1);
  }
}

/**
 * The value of the JSON string at [start, end) (quotes included): a slice when it holds no escape, else JSON.parse
 * of it; undefined when it is not a well-formed string.
 */
export function toJsonStringValue(text: string, start: number, end: number): string | undefined {
  if (text.charCodeAt(start) !== QUOTE || end - start < 2 || text.charCodeAt(end - 1) !== QUOTE) return undefined;
  const backslash = text.indexOf("\\", start + 1);
  if (backslash === -1 || backslash >= end - 1) return text.slice(start + 1, end - 1);
  try {
    return JSON.parse(text.slice(start, end)) as string;
  } catch {
    return undefined; // not a string the scanner can vouch for: the caller falls back to parsing the whole text
  }
}
