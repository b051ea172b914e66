import assert from "node:assert/strict";
import { loadRelayConfig, RELAY_DEFAULTS, toLoggableConfig } from "../../relay/config.ts";
import { ConfigError } from "../../shared/env_reader.ts";
import { DEFAULT_LIMITS } from "../../shared/contract/limits.ts";

const MINIMAL = { HANDLER_URL: "http://handler:8080/", HANDLER_TOKEN: "secret-token", KUBECONFIG: "/tmp/kc" };

Deno.test("loadRelayConfig applies the documented defaults", () => {
  const config = loadRelayConfig(MINIMAL, { hostname: "relay-abc" });
  assert.deepEqual(config, {
    clusterName: undefined,
    namespaces: [],
    handlerUrl: "http://handler:8080",
    handlerToken: { value: "secret-token" },
    kube: { mode: "kubeconfig", path: "/tmp/kc" },
    podName: "relay-abc",
    leaseNamespace: "default",
    leaseName: "events-ingester-relay",
    leaseDurationS: 15,
    leaseRenewDeadlineS: 10,
    leaseRetryPeriodS: 2,
    queueBytesMax: DEFAULT_LIMITS.queueBytesMax,
    isStormControlEnabled: true,
    batchRecordsMax: DEFAULT_LIMITS.batchRecordsMax,
    batchBytesMax: DEFAULT_LIMITS.batchBytesMax,
    flushIntervalMs: 250,
    enrichCacheEntriesMax: RELAY_DEFAULTS.enrichCacheEntriesMax,
    enrichCacheTtlS: 300,
    enrichTimeoutMs: 1000,
    watchIdleMaxS: 300,
    watchIdleTimeoutS: 330,
    healthPort: 8081,
    shutdownDeadlineS: 10,
    retryBackoffMaxMs: 30_000,
    handlerRequestTimeoutMs: 30_000,
    isDebug: false,
    isOtelEnabled: false,
    otelExportIntervalS: 60,
  });
});

Deno.test("loadRelayConfig reads every variable", () => {
  const config = loadRelayConfig({
    CLUSTER_NAME: "prod-eu-1",
    NAMESPACES: "krateo-system, default",
    HANDLER_URL: "https://events.example.com",
    HANDLER_TOKEN_FILE: "/var/run/token",
    POD_NAME: "relay-0",
    POD_NAMESPACE: "krateo-system",
    LEASE_NAME: "relay-lock",
    LEASE_DURATION_S: "30",
    LEASE_RENEW_DEADLINE_S: "20",
    LEASE_RETRY_PERIOD_S: "4",
    QUEUE_BYTES_MAX: "1048576",
    STORM_CONTROL: "off",
    BATCH_RECORDS_MAX: "100",
    BATCH_BYTES_MAX: "65536",
    FLUSH_INTERVAL_MS: "50",
    ENRICH_CACHE_ENTRIES_MAX: "5",
    ENRICH_CACHE_TTL_S: "1.5",
    ENRICH_TIMEOUT_MS: "200",
    WATCH_IDLE_MAX_S: "60",
    WATCH_IDLE_TIMEOUT_S: "90",
    HEALTH_PORT: "0",
    SHUTDOWN_DEADLINE_S: "3",
    RETRY_BACKOFF_MAX_MS: "1000",
    HANDLER_REQUEST_TIMEOUT_MS: "2500",
    KUBERNETES_SERVICE_HOST: "10.0.0.1",
    DEBUG: "true",
    OTEL_ENABLED: "1",
    OTEL_EXPORT_INTERVAL: "1m30s",
  });
  assert.deepEqual(
    [
      config.clusterName,
      config.namespaces,
      config.handlerToken,
      config.kube,
      config.podName,
      config.leaseNamespace,
      config.leaseName,
      config.leaseDurationS,
      config.leaseRenewDeadlineS,
      config.leaseRetryPeriodS,
      config.queueBytesMax,
      config.isStormControlEnabled,
      config.batchRecordsMax,
      config.batchBytesMax,
      config.flushIntervalMs,
      config.enrichCacheEntriesMax,
      config.enrichCacheTtlS,
      config.enrichTimeoutMs,
      config.watchIdleMaxS,
      config.watchIdleTimeoutS,
      config.healthPort,
      config.shutdownDeadlineS,
      config.retryBackoffMaxMs,
      config.handlerRequestTimeoutMs,
      config.isDebug,
      config.isOtelEnabled,
      config.otelExportIntervalS,
    ],
    [
      "prod-eu-1",
      ["krateo-system", "default"],
      { file: "/var/run/token" },
      { mode: "in-cluster", serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount" },
      "relay-0",
      "krateo-system",
      "relay-lock",
      30,
      20,
      4,
      1048576,
      false,
      100,
      65536,
      50,
      5,
      1.5,
      200,
      60,
      90,
      0,
      3,
      1000,
      2500,
      true,
      true,
      90,
    ],
  );
});

Deno.test("loadRelayConfig reports every problem at once", () => {
  assert.throws(
    () =>
      loadRelayConfig({
        CLUSTER_NAME: "a:b",
        NAMESPACES: "Bad_NS",
        HANDLER_URL: "ftp://x",
        QUEUE_BYTES_MAX: "lots",
        STORM_CONTROL: "sometimes",
        LEASE_DURATION_S: "5",
        LEASE_RENEW_DEADLINE_S: "10",
        WATCH_IDLE_TIMEOUT_S: "3601",
        DEBUG: "maybe",
      }, {}),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'CLUSTER_NAME: "a:b" is not 1-253 letters, digits, ".", "_", "-" (no colon)',
        'NAMESPACES: "Bad_NS" is not a namespace name',
        'HANDLER_URL: "ftp://x" is not an http:// or https:// URL',
        "HANDLER_TOKEN_FILE: is unset (HANDLER_TOKEN is accepted for development)",
        "POD_NAME: is unset and the host name is unknown",
        "KUBECONFIG: is unset, HOME is unset and this is not a pod (KUBERNETES_SERVICE_HOST is unset)",
        'QUEUE_BYTES_MAX: "lots" is not a whole number from 1024 to 9007199254740991',
        'STORM_CONTROL: "sometimes" is not a boolean (true, false, 1, 0, yes, no, on, off)',
        'WATCH_IDLE_TIMEOUT_S: "3601" is not a number from 1 to 3600',
        'DEBUG: "maybe" is not a boolean (true, false, 1, 0, yes, no, on, off)',
        "LEASE_RENEW_DEADLINE_S: 10 must be shorter than LEASE_DURATION_S 5",
      ]);
      assert.match(error.message, /^Cannot load relay configuration: CLUSTER_NAME/);
      return true;
    },
  );
});

Deno.test("loadRelayConfig falls back to ~/.kube/config, never to localhost", () => {
  const config = loadRelayConfig({ ...MINIMAL, KUBECONFIG: undefined, HOME: "/home/op" }, { hostname: "h" });
  assert.deepEqual(config.kube, { mode: "kubeconfig", path: "/home/op/.kube/config" });
});

Deno.test("toLoggableConfig never shows the inline token", () => {
  const fields = toLoggableConfig(loadRelayConfig(MINIMAL, { hostname: "h" }));
  assert.equal(fields.handlerToken, "(inline, redacted)");
  assert.equal(JSON.stringify(fields).includes("secret-token"), false);
});

Deno.test("loadRelayConfig in a pod reads the service account from SERVICE_ACCOUNT_DIR, absolute only", () => {
  const base = { HANDLER_URL: "http://h", HANDLER_TOKEN: "t", POD_NAME: "p", KUBERNETES_SERVICE_HOST: "10.0.0.1" };
  assert.deepEqual(loadRelayConfig({ ...base, SERVICE_ACCOUNT_DIR: "/tmp/sa/" }).kube, {
    mode: "in-cluster",
    serviceAccountDir: "/tmp/sa",
  });
  assert.throws(
    () => loadRelayConfig({ ...base, SERVICE_ACCOUNT_DIR: "sa" }),
    new ConfigError(['SERVICE_ACCOUNT_DIR: "sa" is not an absolute path'], { component: "relay" }),
  );
});
