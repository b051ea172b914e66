/**
 * Test support: finds every kustomization under deploy/ and renders it with `kubectl kustomize`, the way an
 * operator does, into plain objects.
 */
import * as yaml from "js-yaml";

/** The repository root, found from this file's location (tests/deploy/). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** A rendered Kubernetes object: at least apiVersion, kind and metadata.name. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The kubectl to render with (KUBECTL, else the one on PATH), or null when there is none. */
export function findKubectl(): string | null {
  const candidates = [Deno.env.get("KUBECTL"), "kubectl", "/usr/bin/kubectl", "/usr/local/bin/kubectl"];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const output = new Deno.Command(candidate, { args: ["version", "--client"], stdout: "null", stderr: "null" })
        .outputSync();
      if (output.success) return candidate;
    } catch (error) {
      // Not installed (or not executable) under this name: try the next one.
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied)) throw error;
    }
  }
  return null;
}

/** Directories under deploy/ (relative to the repository root) holding a kustomization.yaml, sorted. */
export function listKustomizations(): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const entry of Deno.readDirSync(`${REPO_ROOT}${relative}`)) {
      if (entry.isDirectory) walk(`${relative}/${entry.name}`);
      else if (entry.isFile && entry.name === "kustomization.yaml") found.push(relative);
    }
  };
  walk("deploy");
  return found.sort();
}

/** Overlays and examples: the kustomizations an operator applies (everything except deploy/base/). */
export function listInstallable(): string[] {
  return listKustomizations().filter((dir) => !dir.startsWith("deploy/base/") && !dir.startsWith("deploy/components/"));
}

/** Parses a multi-document YAML stream into objects, skipping empty documents. */
export function parseManifests(text: string): KubeObject[] {
  return (yaml.loadAll(text) as unknown[]).filter((doc) => doc !== null && doc !== undefined) as KubeObject[];
}

const cache = new Map<string, KubeObject[]>();

/** Renders `dir` (relative to the repository root) with `kubectl kustomize`. Throws with kubectl's message. */
export async function renderKustomization(kubectl: string, dir: string): Promise<KubeObject[]> {
  const cached = cache.get(dir);
  if (cached) return structuredClone(cached);
  const output = await new Deno.Command(kubectl, {
    args: ["kustomize", `${REPO_ROOT}${dir}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`Cannot render ${dir}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  const objects = parseManifests(new TextDecoder().decode(output.stdout));
  cache.set(dir, objects);
  return structuredClone(objects);
}

/** The one object of `kind` named `name`; throws when there is none or more than one. */
export function findObject(objects: KubeObject[], kind: string, name: string): KubeObject {
  const matches = objects.filter((object) => object.kind === kind && object.metadata.name === name);
  if (matches.length !== 1) throw new Error(`Cannot find one ${kind} ${name}: found ${matches.length}`);
  return matches[0]!;
}

/** kubectl for the tests, or null when there is none (the rendering tests are then skipped, with a message). */
export const KUBECTL: string | null = findKubectl();

if (KUBECTL === null) {
  console.log("kubectl not found (set KUBECTL or put it on PATH): the deploy/ rendering tests are skipped");
}
