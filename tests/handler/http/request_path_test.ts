import assert from "node:assert/strict";
import { isValidHost, readRequestPath } from "../../../handler/http/request_path.ts";

Deno.test("isValidHost accepts a host with an optional port as RFC 3986 writes it", () => {
  for (const host of ["handler.test", "handler.test:8080", "127.0.0.1", "[::1]", "[::1]:8080", "x%41y", "a_b~c", ""]) {
    assert.equal(isValidHost(host), true, host);
  }
});

Deno.test("isValidHost refuses spaces, brackets out of place, stray % and more than one port", () => {
  for (const host of ["a b", "[", "%", "%4", "a:b:c", "localhost:-1", "a/b", "a?b", "a#b", "user@host", "[::1"]) {
    assert.equal(isValidHost(host), false, host);
  }
});

Deno.test("readRequestPath is the URL's path, or null when the Host header is not a host", () => {
  assert.equal(readRequestPath(new Request("http://handler.test/v1/events?x=1")), "/v1/events");
  assert.equal(readRequestPath(new Request("http://handler.test/livez", { headers: { host: "a/v1/events" } })), null);
  assert.equal(readRequestPath(new Request("http://handler.test/livez", { headers: { host: "[::1]:80" } })), "/livez");
});
