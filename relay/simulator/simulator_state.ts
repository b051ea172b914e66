/**
 * What every route of the simulator reads and writes: the stores, the controls and the settings. Built once by
 * `startSimulator`.
 */
import type { Controls } from "./controls.ts";
import type { EventStore } from "./stores/event_store.ts";
import type { ObjectStore } from "./stores/object_store.ts";
import type { ResourceRegistry } from "./stores/resources.ts";
import type { RevisionCounter } from "./stores/revision_counter.ts";

/** How a watch that asks to resume from before the window learns it is too late. */
export type WatchGoneAnswer = "event" | "status";

/** The shared state of one simulator. */
export interface SimulatorState {
  counter: RevisionCounter;
  events: EventStore;
  objects: ObjectStore;
  registry: ResourceRegistry;
  controls: Controls;
  /** ms clock. */
  now: () => number;
  bookmarkIntervalMs: number;
  /** Watch length when the request gives no timeoutSeconds. */
  watchTimeoutMs: number;
  watchGoneAnswer: WatchGoneAnswer;
  /** Aborted to end the open watch streams cleanly (closeWatches); new watches read the current one. */
  watchSignal(): AbortSignal;
}
