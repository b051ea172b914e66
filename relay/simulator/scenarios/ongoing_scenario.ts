/**
 * The dev server's traffic: a composition and its deployments rolling out, a crash loop and periodic bursts, until
 * stopped.
 */
import { burst, crashLoopStorm, pause, podLifecycle, type ScenarioTarget, toReference } from "./scenarios.ts";
import { toSecondsTimestamp } from "../stores/timestamps.ts";

/** The composition every deployment of the ongoing scenario belongs to. */
export const ONGOING_COMPOSITION_NAME = "demo-app";

/**
 * Cluster traffic until the target's signal aborts: a Composition object, deployments labelled with its id that roll out every
 * five steps, a pod in a crash loop whose BackOff event is bumped every other step, and once every 60 steps a burst
 * of 200 events at 100 a second. About 3 events a second at the default step of 1 s, like a quiet real cluster.
 */
export async function runOngoingScenario(
  target: ScenarioTarget,
  options: { stepMs?: number } = {},
): Promise<void> {
  const { signal } = target;
  const stepMs = options.stepMs ?? 1_000;
  const composition = target.putObject({
    apiVersion: "composition.krateo.io/v1alpha1",
    kind: "Composition",
    metadata: { name: ONGOING_COMPOSITION_NAME, namespace: "demo" },
    spec: { chart: "demo-app" },
  });
  const labels = { "krateo.io/composition-id": composition.metadata.uid ?? "" };
  target.createEvent({
    involvedObject: toReference(composition),
    reason: "CompositionCreated",
    message: `Composition ${ONGOING_COMPOSITION_NAME} created`,
    source: { component: "composition-dynamic-controller" },
  });
  const crashing = await crashLoopStorm(target, { namespace: "demo", pod: "worker-0", modifications: 0 });
  const crashName = crashing[0]!.metadata.name ?? "";
  for (let step = 1; !signal.aborted; step++) {
    if (step % 5 === 0) {
      await podLifecycle(target, { namespace: "demo", deployment: `web-${step % 3}`, replicas: 2, labels });
    }
    if (step % 2 === 0) {
      target.updateEvent("demo", crashName, (event) => {
        event.count = (event.count ?? 1) + 1;
        event.lastTimestamp = toSecondsTimestamp(target.now());
      });
    }
    if (step % 60 === 0) await burst(target, { count: 200, perSecond: 100, namespace: "batch" });
    await pause(stepMs, signal);
  }
}
