/**
 * What the relay needs of one Kubernetes Event, read from its JSON text without parsing all of it: the identity
 * fields for dedupe, the involved object for enrichment, and the text to send (the event as received minus
 * `metadata.managedFields`), cut from the received text instead of re-serialised from a parsed object.
 */
import type { ObjectRef } from "../../shared/contract/event_view.ts";
import type { EventParts, KubeObject } from "./kube_api.ts";
import { type JsonMember, readJsonMembers, skipJsonSpace, toJsonStringValue } from "./json_text.ts";

/**
 * The parts of the event whose JSON text is `text.slice(start, end)`, read by scanning; undefined when anything is
 * not as the API server writes it (a field the relay reads is missing, duplicated or not a string, or the text is not
 * one well-formed object), and the caller then parses the text (`toEventPartsOfObject`).
 *
 * The text sent equals, once parsed, `JSON.stringify` of the parsed event with `metadata.managedFields` removed: the
 * same members in the same order with the same values. Bytes may differ where the received text spells a value
 * differently than JSON.stringify would (`\u003c` for `<`, as Go writes it; `1.0` for `1`); the handler parses each
 * line and stores its own serialisation, so the stored rows are the same.
 */
export function toEventPartsOfText(text: string, start = 0, end = text.length): EventParts | undefined {
  const object = readJsonMembers(text, skipJsonSpace(text, start));
  if (object === undefined || skipJsonSpace(text, object.end) < end) return undefined;
  const metadata = findOnly(object.members, "metadata");
  if (metadata === undefined || metadata === null) return undefined;
  const inner = readJsonMembers(text, metadata.valueStart);
  if (inner === undefined) return undefined;
  const uid = readStringMember(text, inner.members, "uid");
  const resourceVersion = readStringMember(text, inner.members, "resourceVersion");
  const namespace = readStringMember(text, inner.members, "namespace");
  const managedFields = findOnly(inner.members, "managedFields");
  const involved = findOnly(object.members, "involvedObject");
  const regarding = findOnly(object.members, "regarding");
  if (typeof uid !== "string" || typeof resourceVersion !== "string" || namespace === null) return undefined;
  if (managedFields === null || involved === null || regarding === null) return undefined;
  const cut = managedFields === undefined ? undefined : toMemberCut(inner.members, managedFields);
  return {
    uid,
    resourceVersion,
    namespace,
    keyUid: uid,
    toEventJson: () => toOwnedText(text, { start: skipJsonSpace(text, start), end: object.end, cut }),
    toInvolvedObject: () => {
      const ref = involved === undefined ? null : JSON.parse(text.slice(involved.valueStart, involved.valueEnd));
      if (ref !== null) return ref as ObjectRef;
      return (regarding === undefined ? {} : JSON.parse(text.slice(regarding.valueStart, regarding.valueEnd)) ?? {});
    },
  };
}

/** The same parts from a parsed event: the path for events that came as objects or that the scanner refused. */
export function toEventPartsOfObject(object: KubeObject): EventParts {
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  return {
    uid: typeof metadata.uid === "string" ? metadata.uid : "",
    resourceVersion: String(metadata.resourceVersion),
    namespace: typeof metadata.namespace === "string" ? metadata.namespace : undefined,
    keyUid: String(metadata.uid),
    toEventJson: () => {
      // Set to undefined, which JSON.stringify leaves out, rather than deleted: a delete turns the object into a
      // slow dictionary that takes longer to serialise.
      if (metadata.managedFields !== undefined) metadata.managedFields = undefined;
      return JSON.stringify(object);
    },
    toInvolvedObject: () => (object.involvedObject ?? object.regarding ?? {}) as ObjectRef,
  };
}

/** The parts of an event given as text (scanned, else parsed) or as an object. Throws SyntaxError for bad JSON. */
export function toEventParts(event: KubeObject | string): EventParts {
  if (typeof event !== "string") return toEventPartsOfObject(event);
  return toEventPartsOfText(event) ?? toEventPartsOfObject(JSON.parse(event) as KubeObject);
}

/** The one member named `key`: undefined when absent, null when there are several (JSON.parse would keep the last). */
function findOnly(members: JsonMember[], key: string): JsonMember | undefined | null {
  let found: JsonMember | undefined;
  for (const member of members) {
    if (member.key !== key) continue;
    if (found !== undefined) return null;
    found = member;
  }
  return found;
}

/** The value of the string member `key`: undefined when absent, null when it is duplicated or not a string. */
function readStringMember(text: string, members: JsonMember[], key: string): string | undefined | null {
  const member = findOnly(members, key);
  if (member === undefined || member === null) return member;
  return toJsonStringValue(text, member.valueStart, member.valueEnd) ?? null;
}

/**
 * The span to cut so that `member` and one comma next to it leave the object: from the end of the member before it,
 * or, for the first member, up to the key of the member after it; the whole member when it is the only one.
 */
function toMemberCut(members: JsonMember[], member: JsonMember): { start: number; end: number } {
  const index = members.indexOf(member);
  if (index > 0) return { start: members[index - 1]!.valueEnd, end: member.valueEnd };
  if (members.length > 1) return { start: member.keyStart, end: members[1]!.keyStart };
  return { start: member.keyStart, end: member.valueEnd };
}

/**
 * `text.slice(start, end)` without `cut`, as a string of its own. A slice of a V8 string is a view that keeps all of
 * `text` alive (for a list item, the whole page), and a concatenation is a pair of such views; a RegExp test flattens
 * the pair into one new string and drops the views, so a queued event holds only its own characters. The text is
 * split in two even without a cut, so that there always is a pair to flatten.
 */
function toOwnedText(
  text: string,
  span: { start: number; end: number; cut: { start: number; end: number } | undefined },
): string {
  const { start, end, cut } = span;
  const middle = cut ?? { start: (start + end) >> 1, end: (start + end) >> 1 };
  const owned = text.slice(start, middle.start) + text.slice(middle.end, end);
  FLATTEN.test(owned);
  return owned;
}

/** Any RegExp test flattens its subject; this one returns at the first character. */
const FLATTEN = /^/;
