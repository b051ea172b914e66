/**
 * The path a request is routed on. The runtime builds `request.url` from the `Host` header as the client sent it, so a
 * client that sends `Host: a b` or `Host: [` gets a `request.url` that `new URL()` refuses; such a request is answered
 * 400 INVALID_HEADER (RFC 9110 §7.2: a Host with an invalid value is a bad request) instead of reaching the router.
 */

/**
 * `uri-host [ ":" port ]` of RFC 3986 (an IP literal in brackets, or reg-name / IPv4 characters, percent-encoding
 * included), as RFC 9110 allows in Host. It leaves out `/`, `?`, `#`, `@` and spaces, so the runtime's
 * `http://<host><path>` keeps the path the client sent.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

/** True when `host` (a Host header's value) is a host with an optional port. */
export function isValidHost(host: string): boolean {
  return HOST.test(host);
}

/**
 * The path of the request's URL, or null when its Host header is not a valid host[:port] or the URL the runtime built
 * does not parse. Never throws.
 */
export function readRequestPath(request: Request): string | null {
  const host = request.headers.get("host");
  if (host !== null && !isValidHost(host)) return null;
  return URL.parse(request.url)?.pathname ?? null;
}
