/**
 * A scripted stand-in for the list and watch calls of KubeApi, for unit tests of the relay's loops (the real client
 * against a real watch server is tested in tests/relay/kube and end to end). Also counting metrics and a reader of
 * what the loops queued.
 */
import type { Counter } from "@opentelemetry/api";
import type { EventListPage, KubeApi, KubeObject, WatchEvent } from "../../relay/kube/kube_api.ts";
import type { ByteQueue } from "../../relay/pipeline/byte_queue.ts";
import type { QueueItem } from "../../relay/pipeline/queue_item.ts";

/** One step of a scripted watch stream: a notification, a failure thrown by the stream, or its end. */
export type WatchStep = WatchEvent | { error: Error } | { end: true };

export interface FakeKubeScript {
  /** One entry per list (relist), each its pages in order; continue tokens are added. */
  lists?: KubeObject[][][];
  /** The resourceVersion each list answers with. */
  listVersions?: string[];
  /** One entry per watch request. After its steps a stream stays open until its signal aborts; so does any extra one. */
  watches?: WatchStep[][];
}

export interface FakeKube {
  kube: Pick<KubeApi, "listEvents" | "watchEvents">;
  /** Every list page request. */
  listCalls: { namespace?: string; limit: number; continueToken?: string }[];
  /** Every watch request. */
  watchCalls: { namespace?: string; resourceVersion: string; timeoutS: number; idleTimeoutMs: number }[];
  /** Resolves once watch number `index` (from 0) has delivered its steps and waits for its signal. */
  watchIdle(index: number): Promise<void>;
}

/** A Kubernetes Event as the API server sends it (only the fields the relay reads). */
export function toEvent(uid: string, resourceVersion: string, namespace = "ns1"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `e-${uid}`, namespace, uid, resourceVersion, managedFields: [{ manager: "kubelet" }] },
    involvedObject: { apiVersion: "v1", kind: "Pod", name: "web-1", namespace },
    reason: "Started",
  };
}

/** Builds the fake from its script. */
export function createFakeKube(script: FakeKubeScript): FakeKube {
  const listCalls: FakeKube["listCalls"] = [];
  const watchCalls: FakeKube["watchCalls"] = [];
  const idle: PromiseWithResolvers<void>[] = [];
  const idleAt = (index: number) => (idle[index] ??= Promise.withResolvers<void>());
  let lists = 0;
  const listEvents = (options: Parameters<KubeApi["listEvents"]>[0]): Promise<EventListPage> => {
    listCalls.push({ namespace: options.namespace, limit: options.limit, continueToken: options.continueToken });
    const list = options.continueToken === undefined ? lists++ : lists - 1;
    const pages = script.lists?.[list] ?? [[]];
    const page = options.continueToken === undefined ? 0 : Number(options.continueToken);
    return Promise.resolve({
      items: pages[page] ?? [],
      resourceVersion: script.listVersions?.[list] ?? "0",
      continueToken: page + 1 < pages.length ? String(page + 1) : null,
    });
  };
  const watchEvents = (options: Parameters<KubeApi["watchEvents"]>[0]): AsyncIterable<WatchEvent> => {
    const { signal, ...call } = options;
    const index = watchCalls.push(call) - 1;
    const steps = script.watches?.[index] ?? [];
    return {
      async *[Symbol.asyncIterator]() {
        for (const step of steps) {
          if ("error" in step) throw step.error;
          if ("end" in step) return;
          yield step;
        }
        idleAt(index).resolve();
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      },
    };
  };
  return { kube: { listEvents, watchEvents }, listCalls, watchCalls, watchIdle: (index) => idleAt(index).promise };
}

/** Counters that add into `counts`, keyed `name` or `name{attribute values}`. */
export function createCountingMetrics() {
  const counts: Record<string, number> = {};
  const counter = (name: string) =>
    ({
      add(value: number, attributes?: Record<string, unknown>) {
        const key = attributes === undefined ? name : `${name}{${Object.values(attributes).join(",")}}`;
        counts[key] = (counts[key] ?? 0) + value;
      },
    }) as unknown as Counter;
  const metrics = {
    watchReconnects: counter("watchReconnects"),
    relists: counter("relists"),
    bookmarks: counter("bookmarks"),
    eventsReceived: counter("eventsReceived"),
    eventsDispatched: counter("eventsDispatched"),
    eventsDropped: counter("eventsDropped"),
    gapRecords: counter("gapRecords"),
    versionsReplaced: counter("versionsReplaced"),
  };
  return { counts, metrics };
}

/** Takes everything out of `queue`, each item described in a few words: kind, ids, resume point. */
export function drainQueue(queue: ByteQueue<QueueItem>): (string | null)[][] {
  const described: (string | null)[][] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    if (item.kind === "event") {
      const metadata = (JSON.parse(item.eventJson) as { metadata: { uid: string; resourceVersion: string } }).metadata;
      described.push(["event", metadata.uid, metadata.resourceVersion, item.resumeVersion]);
    } else if (item.kind === "gap") described.push(["gap", item.record.from, item.record.to]);
    else described.push(["mark", item.resumeVersion]);
  }
  return described;
}
