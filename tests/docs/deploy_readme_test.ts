/**
 * deploy/README.md and deploy/CHANGELOG.md: lines at most 120 characters, the Secret step names the Secrets and keys
 * the manifests and the chart use, every chart value in its table exists in values.yaml, and the root README links
 * to both.
 */
import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { SECRET_NAMES } from "../deploy/secret_step.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DEPLOY_README = Deno.readTextFileSync(`${ROOT}deploy/README.md`);

for (const path of ["deploy/README.md", "deploy/CHANGELOG.md"]) {
  Deno.test(`${path} has no line wider than 120 characters`, () => {
    const lines = Deno.readTextFileSync(`${ROOT}${path}`).split("\n");
    const wide = lines.map((line, index) => ({ line: index + 1, length: line.length })).filter((l) => l.length > 120);
    assert.deepEqual(wide, []);
  });
}

Deno.test("deploy/README.md's Secret step makes the Secrets, with the keys, the manifests and the chart expect", () => {
  for (
    const command of [
      `create secret generic ${SECRET_NAMES.relayToken} --from-literal=token="$token"`,
      `create secret generic ${SECRET_NAMES.tokenHashes} \\\n  --from-literal=hashes="my-cluster=`,
      `create secret generic ${SECRET_NAMES.database} \\\n  --from-literal=username=events_ingester --from-literal=password=`,
    ]
  ) {
    assert.ok(DEPLOY_README.includes(command), `deploy/README.md lacks: ${command}`);
  }
});

Deno.test("every chart value deploy/README.md's table names is in values.yaml", () => {
  const values = yaml.load(Deno.readTextFileSync(`${ROOT}deploy/helm/events-ingester/values.yaml`));
  const rows = DEPLOY_README.split("\n").filter((line) => /^\| `(handler|relay|<component>)\./.test(line));
  const paths = rows.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!))
    .flatMap((path) =>
      path.startsWith("<component>.") ? ["handler", "relay"].map((c) => path.replace("<component>", c)) : [path]
    );
  assert.ok(paths.length >= 20, `${paths.length} paths`);
  const missing = paths.filter((path) =>
    path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], values) ===
      undefined
  );
  assert.deepEqual(missing, []);
});

Deno.test("the root README links deploy/README.md and deploy/CHANGELOG.md", () => {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  assert.ok(readme.includes("[deploy/README.md](deploy/README.md)"));
  assert.ok(readme.includes("[deploy/CHANGELOG.md](deploy/CHANGELOG.md)"));
});
