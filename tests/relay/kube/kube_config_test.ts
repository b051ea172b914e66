import assert from "node:assert/strict";
import {
  type KubeCredentials,
  type KubeRequestOptions,
  loadKubeCredentials,
  TOKEN_FILE_REREAD_MS,
} from "../../../relay/kube/kube_config.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "kube-config-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function kubeconfig(user: string, cluster = "server: https://api.example.test:6443/"): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: prod
    cluster:
      ${cluster}
users:
  - name: admin
    user:
      ${user}
contexts:
  - name: prod-admin
    context: {cluster: prod, user: admin}
  - name: other
    context: {cluster: nowhere, user: admin}
current-context: prod-admin
`;
}

async function applied(credentials: Promise<KubeCredentials> | KubeCredentials): Promise<KubeRequestOptions> {
  const options: KubeRequestOptions = { headers: {} };
  await (await credentials).apply(options);
  return options;
}

const text = (bytes: Uint8Array | undefined) => bytes === undefined ? undefined : new TextDecoder().decode(bytes);

Deno.test("loadKubeCredentials reads the current context's server and bearer token", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config`, kubeconfig("token: s3cret"));
    const credentials = await loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} });
    assert.equal(credentials.server, "https://api.example.test:6443");
    assert.equal(credentials.contextCluster, "prod");
    assert.deepEqual(await applied(credentials), { headers: { Authorization: "Bearer s3cret" } });
  });
});

Deno.test("loadKubeCredentials reads client certificate data and a CA file relative to the kubeconfig", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.pem`, "CA PEM");
    await Deno.writeTextFile(
      `${dir}/config`,
      kubeconfig(
        `client-certificate-data: ${btoa("CERT PEM")}\n      client-key-data: ${btoa("KEY PEM")}`,
        "server: https://api.example.test\n      certificate-authority: ca.pem",
      ),
    );
    const options = await applied(loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} }));
    assert.deepEqual([text(options.ca), text(options.cert), text(options.key)], ["CA PEM", "CERT PEM", "KEY PEM"]);
    assert.deepEqual(options.headers, {});
  });
});

Deno.test("loadKubeCredentials runs an exec credential plugin", async () => {
  await withDir(async (dir) => {
    const plugin = `${dir}/plugin.sh`;
    await Deno.writeTextFile(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",` +
        `"status":{"token":"from-exec"}}'\n`,
    );
    await Deno.chmod(plugin, 0o755);
    await Deno.writeTextFile(
      `${dir}/config`,
      kubeconfig(`exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}`),
    );
    const options = await applied(loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} }));
    assert.equal(options.headers.Authorization, "Bearer from-exec");
  });
});

Deno.test("loadKubeCredentials in a pod uses the service account token and CA and the service address", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "sa-token");
    await Deno.writeTextFile(`${dir}/ca.crt`, "SA CA");
    const credentials = await loadKubeCredentials({ mode: "in-cluster", serviceAccountDir: dir }, {
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
    });
    assert.equal(credentials.server, "https://[fd00::1]:443");
    assert.equal(credentials.contextCluster, undefined);
    const options = await applied(credentials);
    assert.deepEqual([options.headers.Authorization, text(options.ca)], ["Bearer sa-token", "SA CA"]);
  });
});

Deno.test("loadKubeCredentials refuses a pod without KUBERNETES_SERVICE_HOST", async () => {
  await assert.rejects(() => loadKubeCredentials({ mode: "in-cluster" }, { env: {} }), {
    name: "Error",
    message:
      "Cannot load Kubernetes configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set in a pod",
  });
});

Deno.test("loadKubeCredentials refuses a context that names no known cluster, never using localhost", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config`, kubeconfig("token: t"));
    await assert.rejects(
      () => loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config`, context: "other" }, { env: {} }),
      { message: 'Cannot load Kubernetes configuration: context "other" names no cluster server' },
    );
  });
});

Deno.test("loadKubeCredentials reads a token file again once it is older than TOKEN_FILE_REREAD_MS", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "first");
    await Deno.writeTextFile(`${dir}/ca.crt`, "SA CA");
    let nowMs = 1_000_000;
    const credentials = await loadKubeCredentials({ mode: "in-cluster", serviceAccountDir: dir }, {
      env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      now: () => nowMs,
    });
    assert.equal((await applied(credentials)).headers.Authorization, "Bearer first");
    await Deno.writeTextFile(`${dir}/token`, "rotated");
    nowMs += TOKEN_FILE_REREAD_MS; // not older than the limit yet: the token read first is still used
    assert.equal((await applied(credentials)).headers.Authorization, "Bearer first");
    nowMs += 1;
    assert.equal((await applied(credentials)).headers.Authorization, "Bearer rotated");
    await Deno.writeTextFile(`${dir}/token`, "");
    nowMs += TOKEN_FILE_REREAD_MS + 1;
    assert.deepEqual((await applied(credentials)).headers, {});
  });
});

Deno.test("loadKubeCredentials uses a kubeconfig user's tokenFile auth-provider and token-file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/provider-token`, "from-provider");
    await Deno.writeTextFile(
      `${dir}/config`,
      kubeconfig(`auth-provider: {name: x, config: {tokenFile: ${dir}/provider-token}}`),
    );
    const options = await applied(loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} }));
    assert.equal(options.headers.Authorization, "Bearer from-provider");
    await Deno.writeTextFile(`${dir}/user-token`, "from-token-file");
    await Deno.writeTextFile(`${dir}/config`, kubeconfig(`token-file: ${dir}/user-token`));
    const second = await applied(loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} }));
    assert.equal(second.headers.Authorization, "Bearer from-token-file");
  });
});

Deno.test("loadKubeCredentials runs an exec plugin named by an exec auth-provider", async () => {
  await withDir(async (dir) => {
    const plugin = `${dir}/plugin.sh`;
    await Deno.writeTextFile(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",` +
        `"status":{"token":"from-provider-exec"}}'\n`,
    );
    await Deno.chmod(plugin, 0o755);
    await Deno.writeTextFile(
      `${dir}/config`,
      kubeconfig(
        `auth-provider: {name: exec, config: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}}}}`,
      ),
    );
    const options = await applied(loadKubeCredentials({ mode: "kubeconfig", path: `${dir}/config` }, { env: {} }));
    assert.equal(options.headers.Authorization, "Bearer from-provider-exec");
  });
});
