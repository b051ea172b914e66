import assert from "node:assert/strict";
import {
  ONGOING_COMPOSITION_NAME,
  runOngoingScenario,
} from "../../../../relay/simulator/scenarios/ongoing_scenario.ts";
import { startSimulator } from "../../../../relay/simulator/simulator.ts";

Deno.test("runOngoingScenario rolls out composition-labelled deployments and bumps a crash loop until aborted", async () => {
  const simulator = await startSimulator();
  const controller = new AbortController();
  try {
    const running = runOngoingScenario({
      now: Date.now,
      signal: controller.signal,
      createEvent: simulator.createEvent,
      updateEvent: simulator.updateEvent,
      putObject: simulator.putObject,
      getObject: () => undefined,
    }, { stepMs: 1 });
    const deadline = performance.now() + 5_000;
    while (simulator.emittedVersions().length < 40 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    controller.abort();
    await running;
    const composition = await (await fetch(
      `${simulator.url}/apis/composition.krateo.io/v1alpha1/namespaces/demo/compositions/${ONGOING_COMPOSITION_NAME}`,
    )).json();
    const pods = await (await fetch(`${simulator.url}/api/v1/namespaces/demo/pods`)).json();
    const labelled = pods.items.filter((p: { metadata: { labels?: Record<string, string> } }) =>
      p.metadata.labels?.["krateo.io/composition-id"] === composition.metadata.uid
    );
    assert.ok(labelled.length >= 2, `${labelled.length} labelled pods`);
    const events = await (await fetch(`${simulator.url}/api/v1/namespaces/demo/events?fieldSelector=reason%3DBackOff`))
      .json();
    assert.equal(events.items.length, 1);
    assert.ok(events.items[0].count > 1, `count ${events.items[0].count}`);
  } finally {
    controller.abort();
    await simulator.close();
  }
});
