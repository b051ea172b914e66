import assert from "node:assert/strict";
import { toDevClusterName } from "../../../handler/dev/main.ts";

Deno.test("toDevClusterName takes CLUSTER_NAME when set, for either cluster", () => {
  assert.equal(
    toDevClusterName({ CLUSTER_NAME: "prod-eu" }, { kind: "simulator", nowMs: 1_700_000_000_000 }),
    "prod-eu",
  );
  assert.equal(
    toDevClusterName({ CLUSTER_NAME: "prod-eu" }, { kind: "kubeconfig", nowMs: 1_700_000_000_000 }),
    "prod-eu",
  );
});

Deno.test("toDevClusterName names a simulated cluster after the start time in base 36", () => {
  assert.equal(toDevClusterName({}, { kind: "simulator", nowMs: 1_700_000_000_000 }), "dev-sim-loyw3v28");
  assert.equal(toDevClusterName({ CLUSTER_NAME: "" }, { kind: "simulator", nowMs: 35 }), "dev-sim-z");
});

Deno.test("toDevClusterName calls a kubeconfig cluster dev", () => {
  assert.equal(toDevClusterName({}, { kind: "kubeconfig", nowMs: 1_700_000_000_000 }), "dev");
});
