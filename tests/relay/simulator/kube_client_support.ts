/**
 * Test support: the real `@kubernetes/client-node` pointed at a simulator, and a watch collector built on its raw
 * `Watch`.
 */
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { type Simulator, type SimulatorOptions, startSimulator } from "../../../relay/simulator/simulator.ts";

/** Runs `fn` against a fresh simulator started with `options`, and closes it afterwards. */
export async function withSimulator(
  fn: (simulator: Simulator) => Promise<void>,
  options: SimulatorOptions = {},
): Promise<void> {
  const simulator = await startSimulator(options);
  try {
    await fn(simulator);
  } finally {
    await simulator.close();
  }
}

/** A KubeConfig loaded from the simulator's own kubeconfig text. */
export function toKubeConfig(simulator: Simulator): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(simulator.kubeconfig());
  return config;
}

/** One watch event as client-node delivers it. */
export interface SeenWatchEvent {
  type: string;
  object: {
    metadata?: { name?: string; uid?: string; resourceVersion?: string; annotations?: Record<string, string> };
    code?: number;
    reason?: string;
    [key: string]: unknown;
  };
}

/** A running watch: the events seen so far and how it ended. */
export interface WatchRecorder {
  events: SeenWatchEvent[];
  /** Resolves with the error client-node passed to `done` (null on a clean end). */
  done: Promise<unknown>;
  /** Resolves once `count` events were seen. */
  waitForCount(count: number, timeoutMs?: number): Promise<void>;
  abort(): void;
}

/** Starts a client-node watch of `path` with `query` and records what arrives. */
export async function recordWatch(
  simulator: Simulator,
  path: string,
  query: Record<string, string | number | boolean>,
): Promise<WatchRecorder> {
  const events: SeenWatchEvent[] = [];
  let resolveDone!: (error: unknown) => void;
  const done = new Promise<unknown>((resolve) => resolveDone = resolve);
  const waiters: { count: number; resolve: () => void }[] = [];
  const watch = new Watch(toKubeConfig(simulator));
  const controller = await watch.watch(path, query, (type, object) => {
    events.push({ type, object });
    for (const waiter of waiters.filter((w) => events.length >= w.count)) waiter.resolve();
  }, (error) => resolveDone(error ?? null));
  return {
    events,
    done,
    abort: () => controller.abort(),
    waitForCount: (count, timeoutMs = 5_000) => {
      if (events.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`Cannot see ${count} watch events: ${events.length} arrived in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}
