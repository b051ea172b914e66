/**
 * Bearer-token authentication: a token is accepted when its SHA-256 equals one of the configured hashes, and it
 * then writes for that hash's cluster only.
 */
import { HttpError } from "./http_error.ts";
import type { ClusterTokenHash } from "./token_hashes.ts";

/** Resolves the cluster a request's bearer token belongs to. */
export interface TokenAuthenticator {
  /**
   * Returns the token's cluster. Throws HttpError MISSING_TOKEN when there is no non-empty bearer token and
   * INVALID_TOKEN when its hash matches no configured one; both carry a WWW-Authenticate header.
   */
  authenticate(request: Request): Promise<string>;
}

const REALM = 'Bearer realm="events-ingester"';

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Builds an authenticator over the configured hashes. */
export function createTokenAuthenticator(hashes: readonly ClusterTokenHash[]): TokenAuthenticator {
  const known = hashes.map((entry) => ({ cluster: entry.cluster, digest: fromHex(entry.sha256Hex) }));
  return {
    async authenticate(request) {
      const token = readBearerToken(request.headers.get("authorization"));
      if (token === undefined) {
        throw new HttpError("MISSING_TOKEN", "Cannot authenticate: the request has no bearer token", {
          headers: { "www-authenticate": REALM },
        });
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
      // Every configured hash is compared in full, whatever matches, so timing tells nothing about the token.
      let cluster: string | undefined;
      for (const entry of known) {
        let difference = 0;
        for (let i = 0; i < digest.length; i++) difference |= (digest[i] as number) ^ (entry.digest[i] as number);
        if (difference === 0) cluster = entry.cluster;
      }
      if (cluster === undefined) {
        throw new HttpError("INVALID_TOKEN", "Cannot authenticate: the bearer token is not known", {
          headers: { "www-authenticate": `${REALM}, error="invalid_token"` },
        });
      }
      return cluster;
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header; undefined for none, another scheme or an empty token. */
export function readBearerToken(authorization: string | null): string | undefined {
  if (authorization === null) return undefined;
  const match = /^Bearer[ \t]+(\S.*)$/i.exec(authorization.trim());
  const token = match?.[1]?.trim();
  return token === undefined || token === "" ? undefined : token;
}
