import { toServiceInstanceId, toStopBoundS, warnWhenBudgetPassesHeap } from "../../handler/start.ts";
import { createLogger } from "../../shared/telemetry/log.ts";
import assert from "node:assert/strict";
import {
  ConfigError,
  HANDLER_DEFAULTS,
  type HandlerConfig,
  isDatabaseConfigured,
  loadHandlerConfig,
  PUBLISHED_TOKEN_HASHES,
  redactDatabaseUrl,
  toLoggableConfig,
} from "../../handler/config.ts";
import { parseDurationS } from "../../shared/duration.ts";
import { toTokenHashHex } from "../../handler/http/token_hashes.ts";

const HASH_A = "a".repeat(64);
const HASH_B = "B".repeat(64);
const MINIMAL = { DATABASE_URL: "postgres://u:pw@db:5432/events", CLUSTER_TOKEN_HASHES: `cluster-a=${HASH_A}` };

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadHandlerConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.name, "ConfigError");
    assert.equal(error.message, `Cannot load handler configuration: ${error.problems.join("; ")}`);
    return error.problems;
  }
  assert.fail("loadHandlerConfig accepted the environment");
}

Deno.test("loadHandlerConfig fills every default from a minimal environment", () => {
  const expected: HandlerConfig = {
    databaseUrl: "postgres://u:pw@db:5432/events",
    dbSchema: "public",
    dbReadyTimeoutS: 60,
    dbConnectTimeoutS: 10,
    dbPoolMax: 10,
    port: 8080,
    tokenHashes: [{ cluster: "cluster-a", sha256Hex: HASH_A }],
    limits: {
      bodyBytesMax: 8388608,
      decodedBodyBytesMax: 16777216,
      lineBytesMax: 1048576,
      recordsMax: 10000,
      jsonDepthMax: 32,
      requestsInFlightMax: 8,
      bodyIdleTimeoutS: 30,
      rowRefusalsMax: 100,
      requestsMemoryBytesMax: 134217728,
    },
    retentionDays: 30,
    shutdownDeadlineS: 25,
    isDebug: false,
    isOtelEnabled: false,
    otelExportIntervalS: 60,
    hostname: null,
  };
  assert.deepEqual(loadHandlerConfig(MINIMAL), expected);
});

Deno.test("loadHandlerConfig reads every variable it knows", () => {
  const config = loadHandlerConfig({
    ...MINIMAL,
    DB_SCHEMA: "events_v2",
    DB_READY_TIMEOUT: "2m",
    DB_CONNECT_TIMEOUT_S: "3",
    DB_POOL_MAX: "4",
    PORT: "0",
    BODY_BYTES_MAX: "100",
    DECODED_BODY_BYTES_MAX: "200",
    LINE_BYTES_MAX: "50",
    RECORDS_MAX: "7",
    JSON_DEPTH_MAX: "5",
    REQUESTS_IN_FLIGHT_MAX: "2",
    BODY_IDLE_TIMEOUT_S: "2.5",
    ROW_REFUSALS_MAX: "3",
    REQUESTS_MEMORY_BYTES_MAX: "800",
    RETENTION_DAYS: "0",
    SHUTDOWN_DEADLINE_S: "1.5",
    DEBUG: "true",
    OTEL_ENABLED: "1",
    OTEL_EXPORT_INTERVAL: "15s",
    HOSTNAME: " handler-5d8f-x2k ",
  });
  assert.deepEqual(
    [config.dbSchema, config.dbReadyTimeoutS, config.dbConnectTimeoutS, config.dbPoolMax, config.port],
    ["events_v2", 120, 3, 4, 0],
  );
  assert.deepEqual(config.limits, {
    bodyBytesMax: 100,
    decodedBodyBytesMax: 200,
    lineBytesMax: 50,
    recordsMax: 7,
    jsonDepthMax: 5,
    requestsInFlightMax: 2,
    bodyIdleTimeoutS: 2.5,
    rowRefusalsMax: 3,
    requestsMemoryBytesMax: 800,
  });
  assert.deepEqual(
    [config.retentionDays, config.shutdownDeadlineS, config.isDebug, config.isOtelEnabled, config.otelExportIntervalS],
    [0, 1.5, true, true, 15],
  );
  assert.equal(config.hostname, "handler-5d8f-x2k");
});

Deno.test("loadHandlerConfig assembles the URL from the DB_* names of the existing service", () => {
  const config = loadHandlerConfig({
    DB_USER: "ingester",
    DB_PASS: "p@ss:w/rd",
    DB_NAME: "krateo db",
    DB_HOST: "pg.example",
    DB_PORT: "6432",
    DB_PARAMS: "sslmode=disable",
    CLUSTER_TOKEN_HASHES: `cluster-a=${HASH_A}`,
  });
  assert.equal(config.databaseUrl, "postgres://ingester:p%40ss%3Aw%2Frd@pg.example:6432/krateo%20db?sslmode=disable");
  const url = new URL(config.databaseUrl);
  assert.equal(decodeURIComponent(url.password), "p@ss:w/rd");
});

Deno.test("loadHandlerConfig defaults DB_PORT to 5432 and accepts no password", () => {
  const config = loadHandlerConfig({ DB_USER: "u", DB_NAME: "d", DB_HOST: "h", CLUSTER_TOKEN_HASHES: `c=${HASH_A}` });
  assert.equal(config.databaseUrl, "postgres://u@h:5432/d");
});

Deno.test("loadHandlerConfig reports every problem at once, without secret values", () => {
  assert.deepEqual(
    problemsOf({
      DB_USER: "u",
      DB_PASS: "hunter2",
      DB_PORT: "99999",
      DB_SCHEMA: "bad-schema;drop",
      DB_READY_TIMEOUT: "soon",
      PORT: "http",
      RECORDS_MAX: "0",
      DEBUG: "maybe",
      CLUSTER_TOKEN_HASHES: `cluster-a=${HASH_A},=oops,cluster-b=123,secret-token-value`,
    }),
    [
      "DB_HOST, DB_NAME: must be set when DATABASE_URL is unset",
      'DB_PORT: "99999" is not a port number (1-65535)',
      'DB_SCHEMA: "bad-schema;drop" is not a plain SQL identifier (letters, digits, _)',
      'DB_READY_TIMEOUT: Cannot parse duration "soon": use a Go duration like "30s", "2m", "1h30m" or plain seconds',
      'PORT: "http" is not a whole number from 0 to 65535',
      'CLUSTER_TOKEN_HASHES: entry 2 names "", which is not a cluster name',
      'CLUSTER_TOKEN_HASHES: entry 3 (cluster "cluster-b") is not 64 hex digits',
      'CLUSTER_TOKEN_HASHES: entry 4 is not "cluster=<sha256 hex>"',
      'RECORDS_MAX: "0" is not a whole number from 1 to 9007199254740991',
      'DEBUG: "maybe" is not a boolean (true, false, 1, 0, yes, no, on, off)',
    ],
  );
});

Deno.test("loadHandlerConfig refuses a ROW_REFUSALS_MAX outside 1-100000", () => {
  for (const value of ["0", "100001", "-1", "1.5", "many"]) {
    assert.deepEqual(problemsOf({ ...MINIMAL, ROW_REFUSALS_MAX: value }), [
      `ROW_REFUSALS_MAX: "${value}" is not a whole number from 1 to 100000`,
    ]);
  }
  assert.equal(loadHandlerConfig({ ...MINIMAL, ROW_REFUSALS_MAX: "100000" }).limits.rowRefusalsMax, 100_000);
});

Deno.test("loadHandlerConfig requires a database and at least one token source", () => {
  assert.deepEqual(problemsOf({}), [
    "DATABASE_URL: is unset, and so are DB_HOST, DB_USER and DB_NAME: name the database",
    "CLUSTER_TOKEN_HASHES, CLUSTER_TOKEN_HASHES_FILE: neither is set, so no cluster could send events",
  ]);
});

Deno.test("loadHandlerConfig refuses DATABASE_URL together with DB_HOST, and a URL that is not postgres", () => {
  assert.deepEqual(problemsOf({ ...MINIMAL, DB_HOST: "other" }), [
    "DATABASE_URL and DB_HOST: set one of them, not both",
  ]);
  assert.deepEqual(problemsOf({ ...MINIMAL, DATABASE_URL: "mysql://root:secret@db/x" }), [
    "DATABASE_URL: is not a postgres:// or postgresql:// URL (value not shown, it may hold a password)",
  ]);
});

Deno.test("loadHandlerConfig refuses a REQUESTS_MEMORY_BYTES_MAX that cannot hold one batch of DECODED_BODY_BYTES_MAX", () => {
  assert.deepEqual(problemsOf({ ...MINIMAL, DECODED_BODY_BYTES_MAX: "1000", REQUESTS_MEMORY_BYTES_MAX: "3999" }), [
    "REQUESTS_MEMORY_BYTES_MAX: 3999 is less than 4 × DECODED_BODY_BYTES_MAX (4000), so a batch of the largest " +
    "decoded size could never be taken",
  ]);
  const config = loadHandlerConfig({ ...MINIMAL, DECODED_BODY_BYTES_MAX: "1000", REQUESTS_MEMORY_BYTES_MAX: "4000" });
  assert.equal(config.limits.requestsMemoryBytesMax, 4000);
});

Deno.test("loadHandlerConfig refuses one token hash given to two clusters", () => {
  assert.deepEqual(problemsOf({ ...MINIMAL, CLUSTER_TOKEN_HASHES: `a=${HASH_A},b=${HASH_A}` }), [
    'CLUSTER_TOKEN_HASHES: one token hash is given to both "a" and "b"',
  ]);
});

Deno.test("loadHandlerConfig merges CLUSTER_TOKEN_HASHES_FILE lines with CLUSTER_TOKEN_HASHES", async () => {
  const path = await Deno.makeTempFile({ suffix: ".hashes" });
  try {
    await Deno.writeTextFile(path, `# mounted Secret\ncluster-b=${HASH_B}\r\n\ncluster-a=${"c".repeat(64)}\n`);
    const config = loadHandlerConfig({ ...MINIMAL, CLUSTER_TOKEN_HASHES_FILE: path });
    assert.deepEqual(config.tokenHashes, [
      { cluster: "cluster-a", sha256Hex: HASH_A },
      { cluster: "cluster-b", sha256Hex: "b".repeat(64) },
      { cluster: "cluster-a", sha256Hex: "c".repeat(64) },
    ]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadHandlerConfig reports an unreadable CLUSTER_TOKEN_HASHES_FILE", () => {
  const { CLUSTER_TOKEN_HASHES: _, ...rest } = MINIMAL;
  assert.deepEqual(problemsOf({ ...rest, CLUSTER_TOKEN_HASHES_FILE: "/nonexistent/hashes" }), [
    'CLUSTER_TOKEN_HASHES_FILE: cannot read "/nonexistent/hashes": NotFound',
  ]);
});

Deno.test("loadHandlerConfig refuses the hash of a published example token, inline and from the file", async () => {
  // The example relay token of deploy/overlays/single-cluster, hashed here, not copied from the list.
  const exampleHash = await toTokenHashHex("example-relay-token-change-me");
  const path = await Deno.makeTempFile({ suffix: ".hashes" });
  try {
    await Deno.writeTextFile(path, `cluster-b=${HASH_B}\nmy-cluster=${exampleHash.toUpperCase()}\n`);
    assert.deepEqual(
      problemsOf({ ...MINIMAL, CLUSTER_TOKEN_HASHES: `c=${exampleHash}`, CLUSTER_TOKEN_HASHES_FILE: path }),
      [
        'CLUSTER_TOKEN_HASHES: the hash for cluster "c" is that of the example token published in ' +
        "deploy/overlays/single-cluster, with which anyone can write: make a new token " +
        '(handler/README.md, "Making a token")',
        `CLUSTER_TOKEN_HASHES_FILE (${path}): the hash for cluster "my-cluster" is that of the example token ` +
        "published in deploy/overlays/single-cluster, with which anyone can write: make a new token " +
        '(handler/README.md, "Making a token")',
      ],
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadHandlerConfig refuses every hash of PUBLISHED_TOKEN_HASHES and accepts the one next to it", () => {
  for (const hash of PUBLISHED_TOKEN_HASHES.keys()) {
    assert.equal(problemsOf({ ...MINIMAL, CLUSTER_TOKEN_HASHES: `x=${hash}` }).length, 1);
    const next = hash.slice(0, -1) + (hash.endsWith("0") ? "1" : "0");
    assert.deepEqual(loadHandlerConfig({ ...MINIMAL, CLUSTER_TOKEN_HASHES: `x=${next}` }).tokenHashes, [
      { cluster: "x", sha256Hex: next },
    ]);
  }
});

Deno.test("isDatabaseConfigured is true for DATABASE_URL or DB_HOST only", () => {
  assert.deepEqual(
    [isDatabaseConfigured({}), isDatabaseConfigured({ DB_HOST: "h" }), isDatabaseConfigured(MINIMAL)],
    [false, true, true],
  );
  assert.equal(isDatabaseConfigured({ DATABASE_URL: " ", DB_USER: "u" }), false);
});

Deno.test("toLoggableConfig redacts the password and secret URL parameters and lists clusters, not hashes", () => {
  const config = loadHandlerConfig({
    DATABASE_URL: "postgres://u:hunter2@db:5432/events?sslmode=require&sslpassword=xyz",
    CLUSTER_TOKEN_HASHES: `b=${HASH_B},a=${HASH_A}`,
  });
  const fields = toLoggableConfig(config);
  assert.equal(fields.databaseUrl, "postgres://u:***@db:5432/events?sslmode=require&sslpassword=***");
  assert.equal(fields.tokenClusters, "a,b");
  assert.equal(fields.tokenHashCount, 2);
  const text = JSON.stringify(fields);
  for (const secret of ["hunter2", "xyz", HASH_A, HASH_B.toLowerCase()]) assert.equal(text.includes(secret), false);
});

Deno.test("redactDatabaseUrl hides a URL it cannot parse entirely", () => {
  assert.equal(redactDatabaseUrl("not a url with secret"), "***");
});

Deno.test("parseDurationS reads Go durations and plain seconds", () => {
  assert.deepEqual(
    ["30s", "2m", "1h30m", "1.5s", "250ms", "45", "0", "2.5"].map(parseDurationS),
    [30, 120, 5400, 1.5, 0.25, 45, 0, 2.5],
  );
});

Deno.test("parseDurationS throws SyntaxError for other text", () => {
  for (const text of ["-5s", "5 s", "s", "1d", ""]) {
    assert.throws(() => parseDurationS(text), {
      name: "SyntaxError",
      message: `Cannot parse duration "${text}": use a Go duration like "30s", "2m", "1h30m" or plain seconds`,
    });
  }
});

Deno.test("toServiceInstanceId is HOSTNAME, suffixed for a deno serve worker, else a random UUID", () => {
  const randomUuid = () => "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
  assert.equal(toServiceInstanceId("handler-5d8f-x2k", { randomUuid }), "handler-5d8f-x2k");
  assert.equal(toServiceInstanceId("handler-5d8f-x2k", { isWorker: true, randomUuid }), "handler-5d8f-x2k-0f1e2d3c");
  assert.equal(toServiceInstanceId(null, { isWorker: true, randomUuid }), "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
  assert.match(toServiceInstanceId(null), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

Deno.test("toStopBoundS adds the bounded pool close and last OTLP push to the shutdown deadline", () => {
  assert.equal(toStopBoundS(HANDLER_DEFAULTS.shutdownDeadlineS), 28);
  assert.equal(toStopBoundS(0), 3);
});

Deno.test("warnWhenBudgetPassesHeap warns MEMORY_BUDGET_OVER_HEAP when the budget is more than half of the V8 heap", () => {
  const lines: string[] = [];
  const logger = createLogger({ isDebug: false, write: (line) => lines.push(line), now: () => new Date(0) });
  const config = loadHandlerConfig(MINIMAL);
  warnWhenBudgetPassesHeap(config, logger, 2 * 134217728);
  assert.deepEqual(lines, []);
  warnWhenBudgetPassesHeap(config, logger, 2 * 134217728 - 1);
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [{
    time: "1970-01-01T00:00:00.000Z",
    level: "warn",
    msg: "memory budget is more than half of the V8 heap: raise --max-old-space-size",
    code: "MEMORY_BUDGET_OVER_HEAP",
    requestsMemoryBytesMax: 134217728,
    heapSizeLimitBytes: 268435455,
  }]);
});
