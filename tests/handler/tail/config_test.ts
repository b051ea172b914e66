import assert from "node:assert/strict";
import { loadTailConfig } from "../../../handler/tail/config.ts";
import { ConfigError } from "../../../shared/env_reader.ts";

Deno.test("loadTailConfig takes DATABASE_URL and defaults the schema and connect timeout", () => {
  assert.deepEqual(loadTailConfig({ DATABASE_URL: "postgres://u:p@db:5432/events" }), {
    databaseUrl: "postgres://u:p@db:5432/events",
    dbSchema: "public",
    dbConnectTimeoutS: 10,
  });
});

Deno.test("loadTailConfig assembles the URL from the existing service's DB_* variables", () => {
  const config = loadTailConfig({
    DB_HOST: "pg.example",
    DB_PORT: "6432",
    DB_USER: "reader",
    DB_PASS: "p@ss word",
    DB_NAME: "krateo",
    DB_PARAMS: "sslmode=require",
    DB_SCHEMA: "events",
    DB_CONNECT_TIMEOUT_S: "3",
  });
  assert.deepEqual(config, {
    databaseUrl: "postgres://reader:p%40ss%20word@pg.example:6432/krateo?sslmode=require",
    dbSchema: "events",
    dbConnectTimeoutS: 3,
  });
});

Deno.test("loadTailConfig lists every problem in one ConfigError without the URL's value", () => {
  assert.throws(
    () => loadTailConfig({ DATABASE_URL: "mysql://secret@x/y", DB_SCHEMA: "bad-name", DB_CONNECT_TIMEOUT_S: "0" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        "DATABASE_URL: is not a postgres:// or postgresql:// URL (value not shown, it may hold a password)",
        'DB_SCHEMA: "bad-name" is not a plain SQL identifier (letters, digits, _)',
        'DB_CONNECT_TIMEOUT_S: "0" is not a number from 1 to 3600',
      ]);
      assert.equal(error.message.includes("secret"), false);
      return true;
    },
  );
});

Deno.test("loadTailConfig refuses an environment that names no database", () => {
  assert.throws(() => loadTailConfig({}), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, [
      "DATABASE_URL: is unset, and so are DB_HOST, DB_USER and DB_NAME: name the database",
    ]);
    return true;
  });
});

Deno.test("loadTailConfig names the DB_* variables that are missing, as the handler does", () => {
  assert.throws(() => loadTailConfig({ DB_HOST: "pg" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, ["DB_USER, DB_NAME: must be set when DATABASE_URL is unset"]);
    assert.equal(
      error.message,
      "Cannot load tail configuration: DB_USER, DB_NAME: must be set when DATABASE_URL is unset",
    );
    return true;
  });
});

Deno.test("loadTailConfig refuses DATABASE_URL together with DB_HOST, as the handler does", () => {
  assert.throws(() => loadTailConfig({ DATABASE_URL: "postgres://u@h/d", DB_HOST: "pg" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, ["DATABASE_URL and DB_HOST: set one of them, not both"]);
    return true;
  });
});
