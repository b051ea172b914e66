/**
 * A Kubernetes API server simulator on a loopback port: discovery, core/v1 events (list with paging, watch with
 * bookmarks, resume and 410), objects with PartialObjectMetadata, Leases with optimistic concurrency, tables for
 * kubectl, and controls and scenarios for tests. The real `@kubernetes/client-node` and kubectl talk to it.
 */
import { Controls, type ErrorRule, type RequestLogEntry } from "./controls.ts";
import { EventStore } from "./stores/event_store.ts";
import type { CoreV1Event, KubeObject } from "./stores/kube_types.ts";
import { toKubeStatus } from "./routes/kube_status.ts";
import { toKubeconfig } from "./kubeconfig.ts";
import { type EventDraft, toNewEvent } from "./scenarios/new_event.ts";
import { ObjectStore } from "./stores/object_store.ts";
import { ResourceRegistry } from "./stores/resources.ts";
import { RevisionCounter } from "./stores/revision_counter.ts";
import { routeRequest } from "./router.ts";
import {
  burst,
  crashLoopStorm,
  eventStorm,
  type EventStormOptions,
  type EventStormResult,
  podLifecycle,
  type ScenarioTarget,
} from "./scenarios/scenarios.ts";
import type { SimulatorState, WatchGoneAnswer } from "./simulator_state.ts";

/** Settings of a simulator; every field is optional. */
export interface SimulatorOptions {
  /** Events expire this long after their last write, like the API server's --event-ttl. Default 1 h. */
  eventTtlMs?: number;
  /** How many recent event changes a watch may resume from; older answers 410. Default 10,000. */
  watchWindowSize?: number;
  /** uid of the kube-system namespace (cluster name detection may use it). Default a random UUID. */
  clusterUid?: string;
  /** ms clock for timestamps and the TTL. Default Date.now. */
  now?: () => number;
  /** Port to listen on at 127.0.0.1. Default 0 (a free port). */
  port?: number;
  /** A watch with allowWatchBookmarks=true gets a BOOKMARK after this long without changes. Default 1,000. */
  bookmarkIntervalMs?: number;
  /** A watch resuming from before the window gets an ERROR event (200, "event") or an HTTP 410 ("status"). Default "event". */
  watchGoneAnswer?: WatchGoneAnswer;
}

/** A running simulator. Every method is synchronous except the scenarios and close. */
export interface Simulator {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** YAML kubeconfig text for this server over plain http. */
  kubeconfig(options?: { namespace?: string }): string;
  /** Stores a new event (ADDED); defaults fill in name, uid, timestamps and count. Throws KubeApiError 409 on a taken name. */
  createEvent(event: EventDraft): CoreV1Event;
  /** Changes a copy of an event and stores it (MODIFIED, new resourceVersion). Throws KubeApiError 404 when absent. */
  updateEvent(namespace: string, name: string, change: (e: CoreV1Event) => void): CoreV1Event;
  /** Deletes an event (DELETED). Throws KubeApiError 404 when absent. */
  deleteEvent(namespace: string, name: string): void;
  /** Stores any object (pods, replicasets, deployments, nodes, compositions, ...); unknown kinds become served types. */
  putObject(object: KubeObject): KubeObject;
  /** Every event version ever emitted as ADDED or MODIFIED: the set a lossless relay must store. */
  emittedVersions(): { uid: string; resourceVersion: string }[];
  /** The current cluster-wide resourceVersion. */
  readonly resourceVersion: string;
  /** Resuming from any resourceVersion before the current one answers 410. */
  expireWatchWindow(): void;
  /** Ends all open watch streams cleanly. */
  closeWatches(): void;
  /** Watch streams send nothing (no events, no bookmarks) for `durationMs`. */
  stallWatches(durationMs: number): void;
  /** Every response is delayed by `ms`. */
  setLatency(ms: number): void;
  /** The next `times` requests matching `method` and `pathPattern` (path with query) answer `status`. */
  injectErrors(rule: ErrorRule): void;
  /** Answered requests in order (the newest 100,000). */
  readonly requestLog: RequestLogEntry[];
  /** Deployment, ReplicaSet and Pods with their events (scaling, creation, scheduling, image pull, start). */
  podLifecycle(
    options: { namespace: string; deployment: string; replicas: number; labels?: Record<string, string> },
  ): Promise<CoreV1Event[]>;
  /** A BackOff event modified `modifications` times (count and lastTimestamp bumped); returns every version. */
  crashLoopStorm(options: { namespace: string; pod: string; modifications: number }): Promise<CoreV1Event[]>;
  /**
   * A crash-looping Deployment: an Unhealthy event for each of `events` pods, then their counts bumped round-robin,
   * `bumpsPerSecond` in total, for `durationMs`; returns the last version of each event and the versions written.
   */
  eventStorm(options: EventStormOptions): Promise<EventStormResult>;
  /** `count` events, at `perSecond` when given, else as fast as possible. */
  burst(options: { count: number; perSecond?: number; namespace?: string }): Promise<CoreV1Event[]>;
  /** Ends the watches and stops the server. */
  close(): Promise<void>;
}

/** How long close() lets requests in flight finish before it cuts their connections. */
const SHUTDOWN_GRACE_MS = 1_000;

/** Interval of the sweep that deletes events whose TTL has run out. */
const EXPIRY_SWEEP_INTERVAL_MS = 1_000;

/** Starts a simulator on 127.0.0.1 (a free port unless `options.port`). Throws RangeError on a bad option. */
export function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  try {
    return Promise.resolve(createSimulator(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The stores, controls and signals of one simulator, shared by its server, scenarios and methods. */
interface SimulatorContext {
  state: SimulatorState;
  /** Replaced by closeWatches: aborting it ends the open watch streams, new watches take the new one. */
  watchController: AbortController;
  /** Aborted by close(): scenarios and routes stop. */
  closeController: AbortController;
  /** Aborted last by close(): the server cuts the connections still open. */
  serverController: AbortController;
  /** Requests whose responses are not delivered yet; close() lets them finish within SHUTDOWN_GRACE_MS. */
  unfinished: Set<Promise<void>>;
  putObject(object: KubeObject): KubeObject;
}

function createSimulator(options: SimulatorOptions): Simulator {
  const context = createSimulatorContext(options);
  const server = serveSimulator(context, options.port ?? 0);
  const sweep = setInterval(() => context.state.events.expire(), EXPIRY_SWEEP_INTERVAL_MS);
  let isClosed = false;
  return toSimulator(context, {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: async () => {
      if (isClosed) return;
      isClosed = true;
      clearInterval(sweep);
      await closeSimulator(context, server);
    },
  });
}

/** Validates the options and builds the stores, with the three namespaces every cluster has. Throws RangeError. */
function createSimulatorContext(options: SimulatorOptions): SimulatorContext {
  const now = options.now ?? Date.now;
  const eventTtlMs = options.eventTtlMs ?? 60 * 60 * 1000;
  const watchWindowSize = options.watchWindowSize ?? 10_000;
  if (!(eventTtlMs > 0)) throw new RangeError(`Cannot start the simulator: eventTtlMs ${eventTtlMs} is not positive`);
  if (!Number.isInteger(watchWindowSize) || watchWindowSize < 1) {
    throw new RangeError(`Cannot start the simulator: watchWindowSize ${watchWindowSize} is not a positive integer`);
  }
  const counter = new RevisionCounter();
  const objects = new ObjectStore({ counter, now });
  const registry = new ResourceRegistry();
  const context: SimulatorContext = {
    state: {
      counter,
      events: new EventStore({ counter, watchWindowSize, eventTtlMs, now }),
      objects,
      registry,
      controls: new Controls(),
      now,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1_000,
      watchTimeoutMs: 30 * 60 * 1000,
      watchGoneAnswer: options.watchGoneAnswer ?? "event",
      watchSignal: () => context.watchController.signal,
    },
    watchController: new AbortController(),
    closeController: new AbortController(),
    serverController: new AbortController(),
    unfinished: new Set<Promise<void>>(),
    putObject: (object) => {
      const type = registry.ensureKind(object.apiVersion, object.kind, {
        isNamespaced: object.metadata.namespace !== undefined,
      });
      return objects.put(type, object);
    },
  };
  for (const name of ["default", "kube-system", "kube-public"]) {
    const uid = name === "kube-system" ? options.clusterUid ?? crypto.randomUUID() : crypto.randomUUID();
    context.putObject({ apiVersion: "v1", kind: "Namespace", metadata: { name, uid }, status: { phase: "Active" } });
  }
  return context;
}

/** Listens on 127.0.0.1:`port` and routes every request, tracking each until its response is delivered. */
function serveSimulator(context: SimulatorContext, port: number): Deno.HttpServer<Deno.NetAddr> {
  const { state, unfinished, closeController, serverController } = context;
  return Deno.serve({
    hostname: "127.0.0.1",
    port,
    signal: serverController.signal,
    onListen: () => {},
    onError: (error) => {
      console.error(`simulator: cannot answer a request: ${error instanceof Error ? error.message : String(error)}`);
      return Response.json(toKubeStatus(500, { message: "internal error in the simulator" }), { status: 500 });
    },
  }, (request, info) => {
    // Settled, delivered or not (a client that disconnects rejects it), the request no longer holds close() up.
    const settle = () => unfinished.delete(info.completed);
    unfinished.add(info.completed);
    info.completed.then(settle, settle);
    return routeRequest(state, request, closeController.signal);
  });
}

/** What the scenarios write through: events and objects, with the simulator's clock and close signal. */
function toScenarioTarget(context: SimulatorContext): ScenarioTarget {
  const { events, objects, registry, now } = context.state;
  return {
    now,
    signal: context.closeController.signal,
    createEvent: (draft: EventDraft) => events.create(toNewEvent(draft, now())),
    updateEvent: (namespace: string, name: string, change: (e: CoreV1Event) => void) =>
      events.update(namespace, name, change),
    putObject: context.putObject,
    getObject: (apiVersion: string, kind: string, namespace: string, name: string) => {
      const type = registry.byKind(apiVersion, kind);
      return type === undefined ? undefined : objects.get(type, type.isNamespaced ? namespace : "", name);
    },
  };
}

/** The simulator's public methods over its context. */
function toSimulator(context: SimulatorContext, parts: { url: string; close: () => Promise<void> }): Simulator {
  const { events, counter, controls } = context.state;
  const { url } = parts;
  const target = toScenarioTarget(context);
  return {
    url,
    kubeconfig: (kubeconfigOptions) => toKubeconfig(url, kubeconfigOptions),
    createEvent: target.createEvent,
    updateEvent: target.updateEvent,
    deleteEvent: (namespace, name) => events.delete(namespace, name),
    putObject: context.putObject,
    emittedVersions: () => events.emittedVersions(),
    get resourceVersion() {
      return String(counter.current);
    },
    expireWatchWindow: () => events.expireWindow(),
    closeWatches: () => {
      context.watchController.abort();
      context.watchController = new AbortController();
    },
    stallWatches: (durationMs) => controls.stallWatches(durationMs),
    setLatency: (ms) => {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Cannot set latency: ${ms} ms is not a duration`);
      controls.latencyMs = ms;
    },
    injectErrors: (rule) => controls.addErrorRule(rule),
    get requestLog() {
      return controls.requestLog;
    },
    podLifecycle: (scenario) => podLifecycle(target, scenario),
    crashLoopStorm: (scenario) => crashLoopStorm(target, scenario),
    eventStorm: (scenario) => eventStorm(target, scenario),
    burst: (scenario) => burst(target, scenario),
    close: parts.close,
  };
}

/** Ends scenarios and watches, lets requests in flight finish for SHUTDOWN_GRACE_MS, then stops the server. */
async function closeSimulator(context: SimulatorContext, server: Deno.HttpServer): Promise<void> {
  context.closeController.abort();
  context.watchController.abort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => timer = setTimeout(resolve, SHUTDOWN_GRACE_MS));
  await Promise.race([Promise.allSettled([...context.unfinished]), grace]);
  clearTimeout(timer);
  // Connections still open belong to clients that stopped reading; cut them like a stopping API server would.
  context.serverController.abort();
  await server.finished;
}
