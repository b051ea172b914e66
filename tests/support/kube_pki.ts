/**
 * The certificates and keys a throwaway control plane needs, made with the `openssl` command: a CA, a serving
 * certificate for 127.0.0.1 / localhost signed by it, and a service-account signing key pair. P-256 keys throughout
 * (milliseconds to generate; Kubernetes accepts them for serving, client CAs and ES256 service-account tokens).
 */

/** Paths of the files `createPki` wrote. */
export interface Pki {
  caCertFile: string;
  caKeyFile: string;
  /** The CA certificate, PEM. */
  caPem: string;
  servingCertFile: string;
  servingKeyFile: string;
  serviceAccountKeyFile: string;
  serviceAccountPublicKeyFile: string;
}

/** Names the serving certificate is valid for: loopback, and the in-cluster names of the `kubernetes` Service. */
export const SERVING_ALT_NAMES = [
  "IP:127.0.0.1",
  "DNS:localhost",
  "DNS:kubernetes",
  "DNS:kubernetes.default",
  "DNS:kubernetes.default.svc",
  "DNS:kubernetes.default.svc.cluster.local",
];

const CURVE = ["-pkeyopt", "ec_paramgen_curve:prime256v1"];
const VALIDITY_DAYS = "2";

async function openssl(args: string[]): Promise<void> {
  const output = await new Deno.Command("openssl", { args, stdin: "null" }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot run openssl ${args[0]}: exit ${output.code}: ${stderr}`);
  }
}

/**
 * Writes the control plane's PKI into `dir` (which must exist). `serviceIp` is the first address of the service
 * range, which the API server's in-cluster Service answers on. Throws when openssl is missing or fails.
 */
export async function createPki(dir: string, options: { serviceIp: string }): Promise<Pki> {
  const pki: Omit<Pki, "caPem"> = {
    caCertFile: `${dir}/ca.crt`,
    caKeyFile: `${dir}/ca.key`,
    servingCertFile: `${dir}/apiserver.crt`,
    servingKeyFile: `${dir}/apiserver.key`,
    serviceAccountKeyFile: `${dir}/sa.key`,
    serviceAccountPublicKeyFile: `${dir}/sa.pub`,
  };
  // deno-fmt-ignore
  await openssl([
    "req", "-x509", "-newkey", "ec", ...CURVE, "-nodes", "-keyout", pki.caKeyFile, "-out", pki.caCertFile,
    "-days", VALIDITY_DAYS, "-subj", "/CN=events-ingester-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const csrFile = `${dir}/apiserver.csr`;
  const extFile = `${dir}/apiserver.ext`;
  // deno-fmt-ignore
  await openssl([
    "req", "-new", "-newkey", "ec", ...CURVE, "-nodes", "-keyout", pki.servingKeyFile, "-out", csrFile,
    "-subj", "/CN=kube-apiserver",
  ]);
  await Deno.writeTextFile(
    extFile,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${[...SERVING_ALT_NAMES, `IP:${options.serviceIp}`].join(",")}`,
    ].join("\n") + "\n",
  );
  // deno-fmt-ignore
  await openssl([
    "x509", "-req", "-in", csrFile, "-CA", pki.caCertFile, "-CAkey", pki.caKeyFile, "-CAcreateserial",
    "-days", VALIDITY_DAYS, "-extfile", extFile, "-out", pki.servingCertFile,
  ]);
  await openssl(["genpkey", "-algorithm", "EC", ...CURVE, "-out", pki.serviceAccountKeyFile]);
  await openssl(["pkey", "-in", pki.serviceAccountKeyFile, "-pubout", "-out", pki.serviceAccountPublicKeyFile]);
  return { ...pki, caPem: await Deno.readTextFile(pki.caCertFile) };
}
