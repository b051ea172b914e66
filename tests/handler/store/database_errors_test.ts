import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  isRowRefusalError,
  isTransientDatabaseError,
  toRowRefusalReason,
} from "../../../handler/store/database_errors.ts";

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

Deno.test("isRowRefusalError accepts data exceptions, integrity violations, PL/pgSQL errors and 54000", () => {
  for (const code of ["22001", "22P02", "22007", "23502", "23503", "23505", "P0001", "P0004", "54000"]) {
    assert.equal(isRowRefusalError(withCode(code)), true, code);
  }
  const check = Object.assign(withCode("23514"), { constraint_name: "reason_not_forbidden" });
  assert.equal(isRowRefusalError(check), true);
});

Deno.test("isRowRefusalError refuses errors that are not about a row's values", () => {
  const noPartition = Object.assign(withCode("23514"), { table_name: "k8s_events" });
  const cases: Error[] = [noPartition, withCode("40001"), withCode("55P03"), withCode("57P01"), withCode("53100")];
  cases.push(withCode("42501"), withCode("42P01"), withCode("25P02"), withCode("54001"), withCode("ECONNRESET"));
  cases.push(withCode("CONNECTION_CLOSED"), withCode(23502), new Error("x"));
  for (const error of cases) {
    assert.equal(isRowRefusalError(error), false, String((error as { code?: unknown }).code));
  }
  assert.equal(isRowRefusalError("23502"), false);
});

Deno.test("toRowRefusalReason names the SQLSTATE and schema identifiers, never the message, detail or row text", () => {
  const notNull = Object.assign(withCode("23502"), {
    message: 'null value in column "reason" of relation "k8s_events_2026_11_20" violates not-null constraint',
    detail: "Failing row contains (secret-value, ...).",
    column_name: "reason",
    table_name: "k8s_events_2026_11_20",
    where: 'COPY k8s_events, line 3: "secret-value	PL/pgSQL function leak(x) line 1"',
  });
  assert.equal(toRowRefusalReason(notNull), 'SQLSTATE 23502 not_null_violation, column "reason"');
  const raised = Object.assign(withCode("P0001"), {
    message: "poisoned event 1234-secret",
    where: "PL/pgSQL function t_1.reject_poison() line 4 at RAISE",
  });
  assert.equal(toRowRefusalReason(raised), "SQLSTATE P0001 raise_exception, raised in function t_1.reject_poison");
  const typed = Object.assign(withCode("22P02"), { data_type_name: "uuid", constraint_name: "c" });
  assert.equal(toRowRefusalReason(typed), 'SQLSTATE 22P02 invalid_text_representation, constraint "c", type "uuid"');
  assert.equal(toRowRefusalReason(withCode("22026")), "SQLSTATE 22026");
});
