import assert from "node:assert/strict";
import { ConnectionClosedError, isTransientDatabaseError } from "../../../handler/store/database_errors.ts";

const withCode = (code: unknown) => Object.assign(new Error("x"), { code });

Deno.test("isTransientDatabaseError accepts connection failures and transient SQLSTATEs", () => {
  for (
    const code of [
      "ECONNREFUSED",
      "ECONNRESET",
      "CONNECT_TIMEOUT",
      "CONNECTION_CLOSED",
      "08006",
      "57P01",
      "53300",
      "40P01",
    ]
  ) {
    assert.equal(isTransientDatabaseError(withCode(code)), true, code);
  }
});

Deno.test("isTransientDatabaseError refuses bugs and errors without a code", () => {
  for (const error of [withCode("42P01"), withCode("23505"), withCode("22007"), withCode(42), new Error("x"), "text"]) {
    assert.equal(isTransientDatabaseError(error), false, String((error as { code?: unknown }).code));
  }
});

Deno.test("ConnectionClosedError is transient, CONNECTION_CLOSED by default and CONNECTION_ENDED when asked", () => {
  const closed = new ConnectionClosedError("Cannot send the statement: its socket closed");
  const ended = new ConnectionClosedError("Cannot begin a transaction: the store is closed", {
    code: "CONNECTION_ENDED",
  });
  assert.deepEqual([closed.name, closed.code, isTransientDatabaseError(closed)], [
    "ConnectionClosedError",
    "CONNECTION_CLOSED",
    true,
  ]);
  assert.deepEqual([ended.code, isTransientDatabaseError(ended)], ["CONNECTION_ENDED", true]);
});
