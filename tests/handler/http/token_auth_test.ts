import assert from "node:assert/strict";
import { createTokenAuthenticator, readBearerToken } from "../../../handler/http/token_auth.ts";
import { HttpError } from "../../../handler/http/http_error.ts";
import { toTokenHashHex } from "../../../handler/http/token_hashes.ts";

async function authenticator() {
  return createTokenAuthenticator([
    { cluster: "cluster-a", sha256Hex: await toTokenHashHex("token-a") },
    { cluster: "cluster-b", sha256Hex: await toTokenHashHex("token-b-old") },
    { cluster: "cluster-b", sha256Hex: await toTokenHashHex("token-b-new") },
  ]);
}

function withAuthorization(value?: string): Request {
  return new Request("http://h/v1/events", { headers: value === undefined ? {} : { authorization: value } });
}

async function rejection(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error;
  }
  assert.fail("the request was accepted");
}

Deno.test("toTokenHashHex is the lowercase hex SHA-256 of the token", async () => {
  assert.equal(await toTokenHashHex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

Deno.test("TokenAuthenticator maps each token to its cluster, several tokens per cluster", async () => {
  const auth = await authenticator();
  assert.equal(await auth.authenticate(withAuthorization("Bearer token-a")), "cluster-a");
  assert.equal(await auth.authenticate(withAuthorization("bearer   token-b-old")), "cluster-b");
  assert.equal(await auth.authenticate(withAuthorization("Bearer token-b-new")), "cluster-b");
});

Deno.test("TokenAuthenticator refuses a missing, empty or non-bearer token with MISSING_TOKEN", async () => {
  const auth = await authenticator();
  for (const header of [undefined, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"]) {
    const error = await rejection(auth.authenticate(withAuthorization(header)));
    assert.equal(error.code, "MISSING_TOKEN");
    assert.equal(error.status, 401);
    assert.equal(error.message, "Cannot authenticate: the request has no bearer token");
    assert.deepEqual(error.headers, { "www-authenticate": 'Bearer realm="events-ingester"' });
  }
});

Deno.test("TokenAuthenticator refuses an unknown token with INVALID_TOKEN", async () => {
  const error = await rejection((await authenticator()).authenticate(withAuthorization("Bearer token-c")));
  assert.equal(error.code, "INVALID_TOKEN");
  assert.equal(error.status, 401);
  assert.equal(error.message, "Cannot authenticate: the bearer token is not known");
  assert.deepEqual(error.headers, { "www-authenticate": 'Bearer realm="events-ingester", error="invalid_token"' });
});

Deno.test("readBearerToken reads the token of a Bearer header only", () => {
  assert.deepEqual(
    [readBearerToken("Bearer abc"), readBearerToken("BEARER\tabc "), readBearerToken(null), readBearerToken("Token x")],
    ["abc", "abc", undefined, undefined],
  );
});
