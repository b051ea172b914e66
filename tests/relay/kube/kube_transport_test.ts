import assert from "node:assert/strict";
import { KubeApiError } from "../../../relay/kube/kube_api.ts";
import type { KubeRequestOptions } from "../../../relay/kube/kube_config.ts";
import { createTlsClient, KubeTransport } from "../../../relay/kube/kube_transport.ts";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A real HTTP server answering every request with `answer`; records what it received. */
async function withServer(
  answer: (request: Request) => Response | Promise<Response>,
  fn: (url: string, seen: Seen[]) => Promise<void>,
) {
  const seen: Seen[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    const body = await request.text();
    seen.push({ method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body });
    return await answer(request);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

/** Credentials that apply `tokens` in turn, as a rotating service account token would. */
function rotatingCredentials(server: string, tokens: string[]) {
  let index = 0;
  return {
    server,
    apply(options: KubeRequestOptions) {
      options.headers.authorization = `Bearer ${tokens[Math.min(index++, tokens.length - 1)]}`;
      return Promise.resolve();
    },
  };
}

Deno.test("KubeTransport.request applies the credentials before every request and sends JSON", async () => {
  await withServer(() => Response.json({ kind: "Lease" }), async (url, seen) => {
    const transport = new KubeTransport({ credentials: rotatingCredentials(url, ["t1", "t2"]) });
    assert.deepEqual(await transport.requestJson("/api/v1/namespaces/default"), { kind: "Lease" });
    await transport.requestJson("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
      method: "POST",
      body: { spec: { holderIdentity: "a" } },
      accept: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    });
    transport.close();
    assert.deepEqual(seen.map((s) => [s.method, new URL(s.url).pathname, s.headers.authorization]), [
      ["GET", "/api/v1/namespaces/default", "Bearer t1"],
      ["POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", "Bearer t2"],
    ]);
    assert.equal(seen[0]!.headers.accept, "application/json");
    assert.equal(seen[0]!.headers["content-type"], undefined);
    assert.equal(
      seen[1]!.headers.accept,
      "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    );
    assert.equal(seen[1]!.headers["content-type"], "application/json");
    assert.equal(seen[1]!.body, '{"spec":{"holderIdentity":"a"}}');
  });
});

Deno.test("KubeTransport.request turns a Status answer into KubeApiError with its status and reason", async () => {
  const status = {
    kind: "Status",
    status: "Failure",
    reason: "AlreadyExists",
    message: 'leases "l1" exists',
    code: 409,
  };
  await withServer(() => Response.json(status, { status: 409 }), async (url) => {
    const transport = new KubeTransport({ credentials: rotatingCredentials(url, ["t"]) });
    await assert.rejects(
      transport.request("/apis/coordination.k8s.io/v1/namespaces/d/leases?dryRun=All", { method: "POST", body: {} }),
      (error: unknown) =>
        error instanceof KubeApiError && error.status === 409 && error.reason === "AlreadyExists" &&
        error.message === 'Cannot POST /apis/coordination.k8s.io/v1/namespaces/d/leases: 409 leases "l1" exists',
    );
  });
});

Deno.test("KubeTransport.request rejects with KubeApiError Unreachable when nothing answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const transport = new KubeTransport({ credentials: rotatingCredentials(`http://127.0.0.1:${port}`, ["t"]) });
  await assert.rejects(
    transport.request("/api/v1/events"),
    (error: unknown) =>
      error instanceof KubeApiError && error.status === 0 && error.reason === "Unreachable" &&
      error.message.startsWith(`Cannot reach the API server http://127.0.0.1:${port}: `) && error.cause !== undefined,
  );
});

Deno.test("KubeTransport.request rejects with the signal's reason when aborted, not as Unreachable", async () => {
  const answered = Promise.withResolvers<Response>();
  await withServer(() => answered.promise, async (url, seen) => {
    const transport = new KubeTransport({ credentials: rotatingCredentials(url, ["t"]) });
    const controller = new AbortController();
    const request = transport.request("/api/v1/events?watch=true", { signal: controller.signal });
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error("shutdown"));
    await assert.rejects(
      request,
      (error: unknown) => !(error instanceof KubeApiError) && error === controller.signal.reason,
    );
    answered.resolve(new Response("late"));
  });
});

Deno.test("createTlsClient refuses insecure-skip-tls-verify for https and needs nothing for http", () => {
  assert.throws(
    () => createTlsClient("https://api.example:6443", { rejectUnauthorized: false }),
    new Error(
      "Cannot connect to https://api.example:6443: insecure-skip-tls-verify is not supported, give the CA instead",
    ),
  );
  assert.equal(createTlsClient("http://127.0.0.1:8080", { rejectUnauthorized: false }), undefined);
  assert.equal(createTlsClient("https://api.example:6443", {}), undefined);
});

Deno.test("KubeTransport refuses every request while the kubeconfig skips TLS verification", async () => {
  const credentials = {
    server: "https://127.0.0.1:1",
    apply(options: KubeRequestOptions) {
      options.rejectUnauthorized = false;
      return Promise.resolve();
    },
  };
  const transport = new KubeTransport({ credentials });
  for (let attempt = 0; attempt < 2; attempt++) {
    await assert.rejects(transport.request("/version"), { message: /insecure-skip-tls-verify is not supported/ });
  }
});

/** A CA and a server certificate for 127.0.0.1 signed by it, made with openssl in a temporary directory. */
async function makeCertificates(): Promise<{ ca: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  const run = async (args: string[]) => {
    const output = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
    if (!output.success) {
      throw new Error(
        `Cannot make test certificates: openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca"]);
    await run(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    await run([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ]);
    const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
    return { ca: await read("ca.crt"), cert: await read("server.crt"), key: await read("server.key") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KubeTransport trusts the connection's CA for an https API server, and only with it", async () => {
  const { ca, cert, key } = await makeCertificates();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", cert, key, onListen: () => {} },
    () => Response.json({ kind: "APIVersions" }),
  );
  const url = `https://127.0.0.1:${server.addr.port}`;
  const withCa = new KubeTransport({
    credentials: {
      server: url,
      apply(options: KubeRequestOptions) {
        options.ca = new TextEncoder().encode(ca);
        return Promise.resolve();
      },
    },
  });
  const withoutCa = new KubeTransport({ credentials: { server: url, apply: () => Promise.resolve() } });
  try {
    assert.deepEqual(await withCa.requestJson("/api"), { kind: "APIVersions" });
    await assert.rejects(
      withoutCa.request("/api"),
      (error: unknown) => error instanceof KubeApiError && error.reason === "Unreachable",
    );
  } finally {
    withCa.close();
    withoutCa.close();
    await server.shutdown();
  }
});
