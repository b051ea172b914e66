/**
 * Minimal hand-written shapes of the Kubernetes objects the simulator serves (the relay has its own types in
 * relay/kube/kube_api.ts). Only the fields the simulator uses are typed; objects may carry more.
 */

/** `metav1.OwnerReference`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** `metav1.ObjectMeta`, the fields we use. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
}

/** `corev1.ObjectReference`: the object an event is about. */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** `corev1.EventSource`. */
export interface EventSource {
  component?: string;
  host?: string;
}

/** `corev1.EventSeries`. */
export interface EventSeries {
  count: number;
  lastObservedTime: string;
}

/** A core/v1 Event as the API server stores and serves it. */
export interface CoreV1Event {
  apiVersion: "v1";
  kind: "Event";
  metadata: ObjectMeta;
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  source?: EventSource;
  reportingComponent?: string;
  reportingInstance?: string;
  action?: string;
  series?: EventSeries;
  related?: ObjectReference;
}

/** Any API object: pods, replicasets, deployments, nodes, namespaces, leases, custom resources. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** `metav1.Status`, the body of every error answer and of an ERROR watch event. */
export interface KubeStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason: string; message: string; field: string }[];
  };
  code: number;
}
