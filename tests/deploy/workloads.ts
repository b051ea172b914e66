/**
 * Test support: the pod templates in rendered manifests, and the environment a container would get.
 */
import type { KubeObject } from "./render.ts";

/** The parts of a container the deploy tests read. */
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string }; prefix?: string }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    resourceFieldRef?: { resource: string };
  };
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
  periodSeconds?: number;
  failureThreshold?: number;
  tcpSocket?: unknown;
  exec?: unknown;
  grpc?: unknown;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext & { fsGroup?: number };
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  nodeSelector?: Record<string, string>;
  volumes?: {
    name: string;
    secret?: { secretName: string; defaultMode?: number };
    configMap?: { name: string; defaultMode?: number };
    hostPath?: unknown;
  }[];
}

/** A workload object and its pod template. */
export interface Workload {
  object: KubeObject;
  pod: PodSpec;
  podLabels: Record<string, string>;
}

/** Every Deployment, DaemonSet, StatefulSet, Job and CronJob in `objects`, with its pod template. */
export function listWorkloads(objects: KubeObject[]): Workload[] {
  const workloads: Workload[] = [];
  for (const object of objects) {
    const spec = object.spec as Record<string, unknown> | undefined;
    let template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } | undefined;
    if (["Deployment", "DaemonSet", "StatefulSet", "Job"].includes(object.kind)) {
      template = spec?.template as typeof template;
    } else if (object.kind === "CronJob") {
      template = (spec?.jobTemplate as { spec: { template: typeof template } }).spec.template;
    }
    if (template) workloads.push({ object, pod: template.spec, podLabels: template.metadata?.labels ?? {} });
  }
  return workloads;
}

/** The workload whose pods carry `app.kubernetes.io/component: <component>`; throws unless there is exactly one. */
export function findComponent(objects: KubeObject[], component: string): Workload {
  const matches = listWorkloads(objects).filter((w) => w.podLabels["app.kubernetes.io/component"] === component);
  if (matches.length !== 1) throw new Error(`Cannot find one ${component} workload: found ${matches.length}`);
  return matches[0]!;
}

/** Every container of the pod, init containers included. */
export function allContainers(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** Where an environment variable's value comes from, after resolving ConfigMaps and Secrets in the render. */
export interface ResolvedEnv {
  /** Name to value; a value only known at run time (fieldRef, resourceFieldRef) is `<fieldRef:path>`. */
  values: Record<string, string>;
  /** Where each name was set: `env`, `configMap <name>` or `secret <name>`. */
  sources: Record<string, string>;
}

/**
 * The environment `container` gets: envFrom (ConfigMaps and Secrets found in `objects`), then env. Throws when a
 * referenced ConfigMap, Secret or key is missing from the render.
 */
export function resolveEnv(objects: KubeObject[], container: Container): ResolvedEnv {
  const values: Record<string, string> = {};
  const sources: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) throw new Error(`Cannot resolve envFrom of container ${container.name}: no configMapRef or secretRef`);
    const kind = from.configMapRef ? "ConfigMap" : "Secret";
    for (const [key, value] of Object.entries(readData(objects, kind, ref.name))) {
      values[`${from.prefix ?? ""}${key}`] = value;
      sources[`${from.prefix ?? ""}${key}`] = `${kind} ${ref.name}`;
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (variable.value !== undefined || !from) {
      values[variable.name] = variable.value ?? "";
    } else if (from.secretKeyRef || from.configMapKeyRef) {
      const ref = (from.secretKeyRef ?? from.configMapKeyRef)!;
      const data = readData(objects, from.secretKeyRef ? "Secret" : "ConfigMap", ref.name);
      const value = data[ref.key];
      if (value === undefined) throw new Error(`Cannot resolve ${variable.name}: ${ref.name} has no key ${ref.key}`);
      values[variable.name] = value;
    } else {
      values[variable.name] = `<fieldRef:${from.fieldRef?.fieldPath ?? from.resourceFieldRef?.resource}>`;
    }
    sources[variable.name] = "env";
  }
  return { values, sources };
}

/** The data of a ConfigMap or Secret in the render (Secret `data` base64-decoded, `stringData` as is). */
export function readData(objects: KubeObject[], kind: "ConfigMap" | "Secret", name: string): Record<string, string> {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (!object) throw new Error(`Cannot find ${kind} ${name} in the render`);
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries((object.data ?? {}) as Record<string, string>)) {
    data[key] = kind === "Secret"
      ? new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)))
      : value;
  }
  return { ...data, ...(object.stringData ?? {}) as Record<string, string> };
}

/**
 * Writes the Secret and ConfigMap volumes `container` mounts into `rootDir` (each key a file, at its mountPath
 * below `rootDir`) and returns `values` with every path below a mountPath moved below `rootDir`, so a config loader
 * can read the files the pod would see.
 */
export function materializeMounts(options: {
  objects: KubeObject[];
  pod: PodSpec;
  container: Container;
  rootDir: string;
  values: Record<string, string>;
}): Record<string, string> {
  const { objects, pod, container, rootDir } = options;
  const mountPaths: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((candidate) => candidate.name === mount.name);
    if (!volume || (!volume.secret && !volume.configMap)) continue;
    const data = volume.secret
      ? readData(objects, "Secret", volume.secret.secretName)
      : readData(objects, "ConfigMap", volume.configMap!.name);
    Deno.mkdirSync(`${rootDir}${mount.mountPath}`, { recursive: true });
    for (const [key, value] of Object.entries(data)) {
      Deno.writeTextFileSync(`${rootDir}${mount.mountPath}/${key}`, value);
    }
    mountPaths.push(mount.mountPath);
  }
  return Object.fromEntries(
    Object.entries(options.values).map(([name, value]) => [
      name,
      mountPaths.some((path) => value.startsWith(`${path}/`)) ? `${rootDir}${value}` : value,
    ]),
  );
}

/** The container port named `name` (a probe's `port` may be that name or a number). */
export function resolvePort(container: Container, port: number | string): number {
  if (typeof port === "number") return port;
  const found = (container.ports ?? []).find((candidate) => candidate.name === port);
  if (!found) throw new Error(`Cannot resolve port "${port}" of container ${container.name}: no such named port`);
  return found.containerPort;
}
