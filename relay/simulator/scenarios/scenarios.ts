/**
 * Scenario generators: the event traffic of a real cluster. Pod lifecycles through deployments (with the objects
 * they refer to, labels and owner references), a crash-loop storm that bumps one event's count with MODIFIED, an
 * event storm that bumps many events' counts thousands of times a second, and bursts of thousands of events a second.
 * Each returns the event versions it wrote (the event storm: the last version of each event and how many it wrote).
 */
import type { CoreV1Event, KubeObject, ObjectReference } from "../stores/kube_types.ts";
import type { EventDraft } from "./new_event.ts";
import { toMicrosTimestamp, toSecondsTimestamp } from "../stores/timestamps.ts";

/** What scenarios write through. */
export interface ScenarioTarget {
  now: () => number;
  /** Scenarios stop writing (and return what they wrote) once this aborts, e.g. when the simulator closes. */
  signal: AbortSignal;
  createEvent(draft: EventDraft): CoreV1Event;
  updateEvent(namespace: string, name: string, change: (e: CoreV1Event) => void): CoreV1Event;
  putObject(object: KubeObject): KubeObject;
  getObject(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
}

/** The node scenario pods run on. */
export const SCENARIO_NODE = "sim-node-1";
/** The image scenario pods pull. */
export const SCENARIO_IMAGE = "nginx:1.27";

const HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** Waits `ms` (0: lets watchers and the network run between writes), or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, signal.aborted ? 0 : ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A Deployment scaled to `replicas`: the Deployment, a ReplicaSet and Pods (all with `labels` and owner references),
 * and the events a real cluster writes: ScalingReplicaSet, SuccessfulCreate per pod, then per pod Scheduled
 * (events.k8s.io style, eventTime set), Pulling, Pulled, Created, Started. 1 + 6 × replicas events.
 */
export async function podLifecycle(
  target: ScenarioTarget,
  options: { namespace: string; deployment: string; replicas: number; labels?: Record<string, string> },
): Promise<CoreV1Event[]> {
  const { namespace, deployment, replicas } = options;
  const labels = { app: deployment, ...options.labels };
  const node = ensureNode(target);
  const deploymentObject = target.putObject({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: deployment, namespace, labels },
    spec: { replicas, selector: { matchLabels: { app: deployment } }, template: { metadata: { labels } } },
  });
  const hash = randomName(10);
  const replicaSet = target.putObject({
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name: `${deployment}-${hash}`,
      namespace,
      labels: { ...labels, "pod-template-hash": hash },
      ownerReferences: [toOwner(deploymentObject)],
    },
    spec: { replicas },
  });
  const created: CoreV1Event[] = [];
  created.push(target.createEvent({
    involvedObject: toReference(deploymentObject),
    reason: "ScalingReplicaSet",
    message: `Scaled up replica set ${replicaSet.metadata.name} to ${replicas}`,
    source: { component: "deployment-controller" },
  }));
  for (let i = 0; i < replicas; i++) {
    const pod = target.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${replicaSet.metadata.name}-${randomName(5)}`,
        namespace,
        labels: { ...labels, "pod-template-hash": hash },
        ownerReferences: [toOwner(replicaSet)],
      },
      spec: { nodeName: node.metadata.name, containers: [{ name: "app", image: SCENARIO_IMAGE }] },
      status: { phase: "Running" },
    });
    created.push(target.createEvent({
      involvedObject: toReference(replicaSet),
      reason: "SuccessfulCreate",
      message: `Created pod: ${pod.metadata.name}`,
      source: { component: "replicaset-controller" },
    }));
    created.push(...podStartEvents(target, pod, node.metadata.name ?? SCENARIO_NODE));
    await pause(0, target.signal);
    if (target.signal.aborted) break;
  }
  return created;
}

/**
 * One BackOff Warning for `pod` (the Pod is created when absent), then `modifications` MODIFIED versions of it,
 * each with count + 1 and a new lastTimestamp. Returns modifications + 1 versions.
 */
export async function crashLoopStorm(
  target: ScenarioTarget,
  options: { namespace: string; pod: string; modifications: number },
): Promise<CoreV1Event[]> {
  const { namespace, pod, modifications } = options;
  const podObject = target.getObject("v1", "Pod", namespace, pod) ?? target.putObject({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod, namespace, labels: { app: pod } },
    spec: { nodeName: ensureNode(target).metadata.name, containers: [{ name: "app", image: SCENARIO_IMAGE }] },
    status: { phase: "Running" },
  });
  const first = target.createEvent({
    involvedObject: { ...toReference(podObject), fieldPath: "spec.containers{app}" },
    reason: "BackOff",
    type: "Warning",
    message: `Back-off restarting failed container app in pod ${pod}_${namespace}(${podObject.metadata.uid})`,
    source: { component: "kubelet", host: SCENARIO_NODE },
  });
  const versions = [first];
  const name = first.metadata.name ?? "";
  for (let i = 1; i <= modifications; i++) {
    versions.push(target.updateEvent(namespace, name, (event) => {
      event.count = (event.count ?? 1) + 1;
      event.lastTimestamp = toSecondsTimestamp(target.now());
    }));
    if (i % 200 === 0) await pause(0, target.signal);
    if (target.signal.aborted) break;
  }
  return versions;
}

/** What an event storm wrote. */
export interface EventStormResult {
  /** The last version of each event, in pod order. */
  events: CoreV1Event[];
  /** Versions written: one ADDED per event plus every MODIFIED. */
  versions: number;
}

/** The most an event storm catches up in one step after its process was held up, in ms of its rate. */
export const STORM_CATCH_UP_MS = 50;

/** Settings of an event storm. */
export interface EventStormOptions {
  namespace: string;
  /** Pods are named `<deployment>-<i>`. */
  deployment: string;
  /** Events in the storm, one per pod. */
  events: number;
  /** MODIFIED versions written a second, over all events. */
  bumpsPerSecond: number;
  durationMs: number;
  /** The probe output in each message is padded to about this many bytes (kubelet keeps up to 10 KiB). Default 0. */
  probeOutputBytes?: number;
}

/**
 * A large Deployment crash-looping with a failing probe: one `Unhealthy` Warning for each of `events` pods, then
 * their counts bumped round-robin (count + 1 and a new lastTimestamp, one MODIFIED each), `bumpsPerSecond` in total,
 * paced on the wall clock in 10 ms steps, for `durationMs`; a step writes at most `STORM_CATCH_UP_MS` worth of bumps.
 * Stops early when the target's signal aborts.
 */
export async function eventStorm(target: ScenarioTarget, options: EventStormOptions): Promise<EventStormResult> {
  const { namespace, deployment, events, bumpsPerSecond, durationMs, probeOutputBytes = 0 } = options;
  if (!Number.isInteger(events) || events < 1 || !(bumpsPerSecond > 0) || !(durationMs >= 0)) {
    throw new RangeError(
      `Cannot run an event storm: events ${events}, bumpsPerSecond ${bumpsPerSecond}, durationMs ${durationMs}`,
    );
  }
  const output = "HTTP probe failed with statuscode: 500; body: " +
    "upstream connect error or disconnect/reset before headers. ".repeat(Math.ceil(probeOutputBytes / 60));
  const latest: CoreV1Event[] = [];
  for (let i = 0; i < events && !target.signal.aborted; i++) {
    const name = `${deployment}-${i}`;
    const pod = target.getObject("v1", "Pod", namespace, name) ?? target.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels: { app: deployment } },
      spec: { nodeName: ensureNode(target).metadata.name, containers: [{ name: "app", image: SCENARIO_IMAGE }] },
      status: { phase: "Running" },
    });
    latest.push(target.createEvent({
      involvedObject: { ...toReference(pod), fieldPath: "spec.containers{app}" },
      reason: "Unhealthy",
      type: "Warning",
      message: `Liveness probe failed: ${output.slice(0, Math.max(probeOutputBytes, 48))}`,
      source: { component: "kubelet", host: SCENARIO_NODE },
    }));
  }
  const startedAtMs = performance.now();
  let bumps = 0;
  let owed = 1;
  for (let lastMs = startedAtMs, nowMs = lastMs; nowMs - startedAtMs < durationMs && !target.signal.aborted;) {
    // A stall of the process (a loaded machine) is not made up with one huge write: a real storm does not bunch up.
    owed = Math.min(owed + (nowMs - lastMs) * bumpsPerSecond / 1000, STORM_CATCH_UP_MS * bumpsPerSecond / 1000 + 1);
    for (; owed >= 1; owed--, bumps++) {
      const i = bumps % latest.length;
      latest[i] = target.updateEvent(namespace, latest[i]!.metadata.name ?? "", (event) => {
        event.count = (event.count ?? 1) + 1;
        event.lastTimestamp = toSecondsTimestamp(target.now());
      });
    }
    await pause(10, target.signal);
    lastMs = nowMs;
    nowMs = performance.now();
  }
  return { events: latest, versions: latest.length + bumps };
}

/** Pods a burst's events are about, per namespace. */
const BURST_PODS = 10;

/**
 * `count` events about a few pods in `namespace` (default "default"). With `perSecond`, paced on the wall clock in
 * 10 ms steps; without, written as fast as possible, yielding every 1,000. Stops early when the target's signal aborts.
 */
export async function burst(
  target: ScenarioTarget,
  options: { count: number; perSecond?: number; namespace?: string },
): Promise<CoreV1Event[]> {
  const namespace = options.namespace ?? "default";
  const { count, perSecond } = options;
  if (perSecond !== undefined && !(perSecond > 0)) {
    throw new RangeError(`Cannot run a burst: perSecond ${perSecond} is not positive`);
  }
  const pods = Array.from({ length: BURST_PODS }, (_, i) => {
    const name = `burst-${i}`;
    return target.getObject("v1", "Pod", namespace, name) ?? target.putObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels: { app: "burst" } },
      spec: { nodeName: SCENARIO_NODE },
    });
  });
  const created: CoreV1Event[] = [];
  const startedAtMs = performance.now();
  while (created.length < count && !target.signal.aborted) {
    const due = perSecond === undefined
      ? Math.min(count, created.length + 1_000)
      : Math.min(count, Math.floor((performance.now() - startedAtMs) * perSecond / 1000) + 1);
    while (created.length < due) {
      const n = created.length;
      created.push(target.createEvent({
        involvedObject: toReference(pods[n % BURST_PODS]!),
        reason: n % 10 === 9 ? "Unhealthy" : "Pulled",
        type: n % 10 === 9 ? "Warning" : "Normal",
        message: n % 10 === 9
          ? `Readiness probe failed: HTTP probe failed with statuscode: 503 (burst event ${n + 1} of ${count})`
          : `Container image "${SCENARIO_IMAGE}" already present on machine (burst event ${n + 1} of ${count})`,
        source: { component: "kubelet", host: SCENARIO_NODE },
      }));
    }
    if (created.length < count) {
      await pause(perSecond === undefined ? 0 : 10, target.signal);
    }
  }
  return created;
}

function podStartEvents(target: ScenarioTarget, pod: KubeObject, node: string): CoreV1Event[] {
  const reference = toReference(pod);
  const container = { ...reference, fieldPath: "spec.containers{app}" };
  const kubelet = {
    source: { component: "kubelet", host: node },
    reportingComponent: "kubelet",
    reportingInstance: node,
  };
  return [
    target.createEvent({
      involvedObject: reference,
      reason: "Scheduled",
      message: `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`,
      action: "Binding",
      eventTime: toMicrosTimestamp(target.now()),
      firstTimestamp: null,
      lastTimestamp: null,
      count: undefined,
      source: {},
      reportingComponent: "default-scheduler",
      reportingInstance: `default-scheduler-${node}`,
    }),
    target.createEvent({
      involvedObject: container,
      reason: "Pulling",
      message: `Pulling image "${SCENARIO_IMAGE}"`,
      ...kubelet,
    }),
    target.createEvent({
      involvedObject: container,
      reason: "Pulled",
      message:
        `Successfully pulled image "${SCENARIO_IMAGE}" in 1.204s (1.204s including waiting). Image size: 72080558 bytes.`,
      ...kubelet,
    }),
    target.createEvent({ involvedObject: container, reason: "Created", message: "Created container: app", ...kubelet }),
    target.createEvent({ involvedObject: container, reason: "Started", message: "Started container app", ...kubelet }),
  ];
}

function ensureNode(target: ScenarioTarget): KubeObject {
  return target.getObject("v1", "Node", "", SCENARIO_NODE) ?? target.putObject({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: SCENARIO_NODE, labels: { "kubernetes.io/hostname": SCENARIO_NODE } },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  });
}

/** The reference an event carries to `object`. */
export function toReference(object: KubeObject): ObjectReference {
  const reference: ObjectReference = {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    uid: object.metadata.uid,
    resourceVersion: object.metadata.resourceVersion,
  };
  if (object.metadata.namespace !== undefined) reference.namespace = object.metadata.namespace;
  return reference;
}

function toOwner(object: KubeObject) {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name ?? "",
    uid: object.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

function randomName(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => HASH_ALPHABET[b % HASH_ALPHABET.length]).join("");
}
