/**
 * Field selectors on events (`involvedObject.name=web-0,type!=Normal`), with the fields the API server supports
 * for them.
 */
import { KubeApiError } from "./kube_status.ts";

/** The event fields the API server accepts in a field selector. */
const EVENT_SELECTOR_FIELDS: readonly string[] = [
  "metadata.name",
  "metadata.namespace",
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
];

interface Requirement {
  path: string[];
  value: string;
  isNegated: boolean;
}

/**
 * A predicate on an event's JSON for a selector, or undefined when the selector is empty. Throws KubeApiError 400
 * for a field the API server does not support or a term without an operator.
 */
export function parseEventFieldSelector(selector: string | null): ((json: string) => boolean) | undefined {
  if (selector === null || selector.trim() === "") return undefined;
  const requirements: Requirement[] = selector.split(",").map((term) => {
    const match = /^\s*([^!=\s]+)\s*(!=|==|=)\s*(.*?)\s*$/.exec(term);
    if (match === null) throw new KubeApiError(400, "BadRequest", `invalid selector: '${selector}'`);
    const [, field = "", operator, value = ""] = match;
    if (!EVENT_SELECTOR_FIELDS.includes(field)) {
      throw new KubeApiError(400, "BadRequest", `field label not supported: ${field}`);
    }
    return { path: field.split("."), value, isNegated: operator === "!=" };
  });
  return (json) => {
    const event = JSON.parse(json) as Record<string, unknown>;
    return requirements.every(({ path, value, isNegated }) => (readField(event, path) === value) !== isNegated);
  };
}

function readField(event: Record<string, unknown>, path: string[]): string {
  if (path.length === 1 && path[0] === "source") {
    const source = event.source as { component?: string } | undefined;
    return source?.component || String(event.reportingComponent ?? "");
  }
  let value: unknown = event;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  return value === undefined || value === null ? "" : String(value);
}
