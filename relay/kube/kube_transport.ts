/**
 * One request to the API server: the current credentials, the TLS client made from the connection's CA and client
 * certificate, `fetch`, and failures turned into KubeApiError. Responses come back exactly as the server sent them.
 */
import { KubeApiError, type KubeObject } from "./kube_api.ts";
import type { KubeCredentials, KubeRequestOptions } from "./kube_config.ts";
import { toKubeApiError } from "./kube_wire.ts";

/** What one request sends: `body` is JSON-encoded; `accept` is `application/json` unless given. */
export interface KubeRequestInit {
  method?: string;
  body?: unknown;
  accept?: string;
  signal?: AbortSignal;
}

export interface KubeTransportOptions {
  credentials: Pick<KubeCredentials, "server" | "apply">;
  /** `globalThis.fetch` unless a test passes its own. */
  fetch?: typeof fetch;
}

/**
 * Sends requests to `credentials.server`. The credentials are applied before every request (tokens rotate); the TLS
 * material is read on the first request to an https server and kept in one client until `close()`.
 */
export class KubeTransport {
  readonly server: string;
  readonly #credentials: KubeTransportOptions["credentials"];
  readonly #fetch: typeof fetch;
  /** Set by the first request: the TLS client (undefined: the platform's roots and no client certificate). */
  #tls: { client: Deno.HttpClient | undefined } | undefined;

  constructor(options: KubeTransportOptions) {
    this.server = options.credentials.server;
    this.#credentials = options.credentials;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Sends one request and returns the response when its status is 2xx. Rejects with the signal's reason when
   * aborted, with KubeApiError status 0 reason `Unreachable` when no response arrived, with the server's status and
   * Status reason otherwise, and with Error when the kubeconfig asks to skip TLS verification on https.
   */
  async request(path: string, init: KubeRequestInit = {}): Promise<Response> {
    const options: KubeRequestOptions = { headers: {} };
    await this.#credentials.apply(options);
    this.#tls ??= { client: createTlsClient(this.server, options) };
    const headers: Record<string, string> = { ...options.headers, accept: init.accept ?? "application/json" };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const response = await this.#send(path, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
      ...(this.#tls.client ? { client: this.#tls.client } : {}),
    });
    if (!response.ok) {
      const text = await response.text().catch((error: unknown) => `(body unreadable: ${String(error)})`);
      throw toKubeApiError(response.status, text, `${init.method ?? "GET"} ${path.split("?")[0]}`);
    }
    return response;
  }

  /** `request`, then the body as JSON. */
  async requestJson(path: string, init: KubeRequestInit = {}): Promise<KubeObject> {
    const response = await this.request(path, init);
    return await response.json() as KubeObject;
  }

  /** Releases the TLS client. */
  close(): void {
    this.#tls?.client?.close();
  }

  async #send(path: string, init: RequestInit & { client?: Deno.HttpClient }): Promise<Response> {
    try {
      return await this.#fetch(this.server + path, init);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new KubeApiError(`Cannot reach the API server ${this.server}: ${(error as Error).message}`, {
        status: 0,
        reason: "Unreachable",
        cause: error,
      });
    }
  }
}

/**
 * The TLS client for an https `server` holding the connection's CA and client certificate; undefined for http, or
 * when there is neither (the platform's roots then apply). Throws Error when the kubeconfig sets
 * insecure-skip-tls-verify: the relay does not talk to an API server it cannot verify.
 */
export function createTlsClient(server: string, tls: Omit<KubeRequestOptions, "headers">): Deno.HttpClient | undefined {
  if (!server.startsWith("https:")) return undefined;
  if (tls.rejectUnauthorized === false) {
    throw new Error(`Cannot connect to ${server}: insecure-skip-tls-verify is not supported, give the CA instead`);
  }
  const text = (bytes: Uint8Array | undefined) => bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  const ca = text(tls.ca), cert = text(tls.cert), key = text(tls.key);
  if (ca === undefined && (cert === undefined || key === undefined)) return undefined;
  return Deno.createHttpClient({
    ...(ca !== undefined ? { caCerts: [ca] } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  });
}
