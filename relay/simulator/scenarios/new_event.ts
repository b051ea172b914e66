/**
 * Fills in a new core/v1 Event the way an API server and a client's event recorder would: name, uid, timestamps,
 * count, source and a managedFields entry (so events are of realistic size and the relay must strip it).
 */
import type { CoreV1Event, ObjectReference } from "../stores/kube_types.ts";
import { toSecondsTimestamp } from "../stores/timestamps.ts";

/** What `createEvent` takes: any event fields, and the object it is about. */
export type EventDraft = Partial<CoreV1Event> & { involvedObject: ObjectReference };

let sequence = 0;

/**
 * A complete event from a draft at `nowMs`. Fields the draft sets (even to null) are kept; the name defaults to
 * `<involved object name>.<hex>` like a recorder's.
 */
export function toNewEvent(draft: EventDraft, nowMs: number): CoreV1Event {
  const involved = draft.involvedObject;
  const timestamp = toSecondsTimestamp(nowMs);
  sequence++;
  const suffix = (BigInt(Math.floor(nowMs)) * 1_000_000n + BigInt(sequence % 1_000_000)).toString(16);
  const source = draft.source ?? { component: "simulator" };
  const manager = source.component || draft.reportingComponent || "simulator";
  const event: CoreV1Event = {
    apiVersion: "v1",
    kind: "Event",
    count: 1,
    eventTime: null,
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    message: "Simulated event",
    reason: "Simulated",
    reportingComponent: "",
    reportingInstance: "",
    type: "Normal",
    ...draft,
    involvedObject: { ...involved },
    source,
    metadata: {
      name: `${involved.name ?? "event"}.${suffix}`,
      namespace: involved.namespace ?? "default",
      uid: crypto.randomUUID(),
      creationTimestamp: timestamp,
      managedFields: [{
        manager,
        operation: "Update",
        apiVersion: "v1",
        time: timestamp,
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:count": {},
          "f:firstTimestamp": {},
          "f:involvedObject": {},
          "f:lastTimestamp": {},
          "f:message": {},
          "f:reason": {},
          "f:reportingComponent": {},
          "f:reportingInstance": {},
          "f:source": { "f:component": {}, "f:host": {} },
          "f:type": {},
        },
      }],
      ...draft.metadata,
    },
  };
  delete event.metadata.resourceVersion;
  return event;
}
