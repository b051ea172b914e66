/**
 * Scenario generators: the event traffic of a real cluster. Pod lifecycles through deployments (with the objects
 * they refer to, labels and owner references), a crash-loop storm that bumps one event's count with MODIFIED, and
 * bursts of thousands of events a second. Each returns the event versions it wrote.
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
const SCENARIO_NODE = "sim-node-1";
/** The image scenario pods pull. */
const SCENARIO_IMAGE = "nginx:1.27";

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
