import assert from "node:assert/strict";
import { createRelayHealth } from "../../relay/relay.ts";

/** The health of a relay whose parts are in the given state, at 100 s on its clock. */
function health(state: {
  authRefusal?: string;
  isLeader?: boolean;
  lastContactMs?: number;
  lastActivityMs?: number;
  isRunning?: boolean;
  leaseRefusal?: string;
  watchRefusal?: string;
}) {
  return createRelayHealth({
    config: { watchIdleMaxS: 10, leaseDurationS: 15 },
    elector: { isLeader: state.isLeader ?? false, lastContactMs: state.lastContactMs, refusal: state.leaseRefusal },
    client: { authRefusal: state.authRefusal },
    now: () => 100_000,
    isRunning: () => state.isRunning ?? true,
    lastActivityMs: () => state.lastActivityMs,
    watchRefusal: () => state.watchRefusal,
  });
}

Deno.test("createRelayHealth: a leader is ready while its watch delivered within watchIdleMaxS", () => {
  assert.deepEqual(health({ isLeader: true, lastActivityMs: 90_000 }).readiness(), {
    isReady: true,
    reason: "leader, watch active",
  });
  assert.deepEqual(health({ isLeader: true, lastActivityMs: 89_999 }).readiness(), {
    isReady: false,
    reason: "leader, watch idle for more than 10 s",
  });
  assert.equal(health({ isLeader: true }).readiness().isReady, false);
});

Deno.test("createRelayHealth: a standby is ready while the Lease was read within leaseDurationS", () => {
  assert.deepEqual(health({ lastContactMs: 85_000 }).readiness(), { isReady: true, reason: "standby" });
  assert.deepEqual(health({ lastContactMs: 84_999 }).readiness(), {
    isReady: false,
    reason: "standby, the Lease cannot be read",
  });
  assert.equal(health({}).readiness().isReady, false);
});

Deno.test("createRelayHealth: not ready while the handler refuses the token, leader or not", () => {
  for (const isLeader of [true, false]) {
    assert.deepEqual(
      health({ isLeader, authRefusal: "401 INVALID_TOKEN", lastActivityMs: 100_000, lastContactMs: 100_000 })
        .readiness(),
      { isReady: false, reason: "the handler refuses the token (401 INVALID_TOKEN); retrying" },
    );
  }
});

Deno.test("createRelayHealth: live while running", () => {
  assert.equal(health({ isRunning: true }).isLive(), true);
  assert.equal(health({ isRunning: false }).isLive(), false);
});

Deno.test("createRelayHealth: not ready while the API server refuses the Lease, or the leader's events", () => {
  assert.deepEqual(health({ lastContactMs: 99_000, leaseRefusal: "403 update leases" }).readiness(), {
    isReady: false,
    reason: "the API server refuses the Lease: 403 update leases",
  });
  assert.deepEqual(health({ isLeader: true, lastActivityMs: 99_000, watchRefusal: "403 watch events" }).readiness(), {
    isReady: false,
    reason: "leader, the API server refuses events: 403 watch events",
  });
  assert.deepEqual(health({ lastContactMs: 99_000, watchRefusal: "403 watch events" }).readiness(), {
    isReady: true,
    reason: "standby",
  });
});
