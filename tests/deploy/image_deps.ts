/**
 * The dependencies of each image, derived from the repository's deno.json and deno.lock: deploy/<component>/deno.json
 * holds only the root imports that <component>/main.ts reaches, and deploy/<component>/deno.lock is the root lock
 * pruned by Deno to them. `deno install --entrypoint` is no way to get there: with the root deno.json, Deno 2.9
 * installs every package of its imports and lock whatever the entrypoint, with nodeModulesDir auto or none.
 *
 * After changing deno.json or deno.lock, rewrite both images' files (tests/deploy/image_deps_test.ts checks them):
 *
 *   deno run -A tests/deploy/image_deps.ts
 */
import { REPO_ROOT } from "./render.ts";

/** The two images, each named after its component folder. */
export const COMPONENTS = ["handler", "relay"] as const;
export type Component = typeof COMPONENTS[number];

/** What deploy/<component>/deno.json holds. */
export interface ImageConfig {
  nodeModulesDir: "auto";
  imports: Record<string, string>;
}

/** The root deno.json's import map. */
export function readRootImports(): Record<string, string> {
  return (JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`)) as { imports: Record<string, string> }).imports;
}

/** `deno info --json <args>` in the repository root, parsed. */
async function readModuleGraph(args: string[]): Promise<{ modules: { specifier: string }[] }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`Cannot read the module graph of ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** The local files `<component>/main.ts` imports, relative to the repository root, sorted. */
export async function listLocalModules(component: Component): Promise<string[]> {
  const root = new URL(`file://${REPO_ROOT}`).href;
  const graph = await readModuleGraph([`${component}/main.ts`]);
  return graph.modules.map((m) => m.specifier).filter((s) => s.startsWith(root)).map((s) => s.slice(root.length))
    .sort();
}

/** The npm packages `<component>/main.ts` imports directly, as `name@version`, sorted. */
export async function listImportedPackages(component: Component): Promise<string[]> {
  const graph = await readModuleGraph([`${component}/main.ts`]);
  const packages = new Set<string>();
  for (const { specifier } of graph.modules) {
    const match = /^npm:\/(@[^/]+\/[^/@]+|[^/@]+)@([^/]+)/.exec(specifier);
    if (match) packages.add(`${match[1]}@${match[2]}`);
  }
  return [...packages].sort();
}

/** The image's deno.json: the root imports (in the root's order) whose package the entrypoint imports. */
export function toImageConfig(rootImports: Record<string, string>, packages: string[]): ImageConfig {
  const wanted = new Set(packages.map((name) => `npm:${name}`));
  const imports = Object.fromEntries(Object.entries(rootImports).filter(([, target]) => wanted.has(target)));
  const missing = packages.filter((name) => !Object.values(imports).includes(`npm:${name}`));
  if (missing.length > 0) throw new Error(`Cannot map ${missing.join(", ")} to an entry of deno.json's imports`);
  return { nodeModulesDir: "auto", imports };
}

/**
 * The lock Deno makes for `config` from the root deno.lock: both are written into an empty folder and
 * `deno install` (not frozen) prunes the lock to the packages the config needs. Packages come from DENO_DIR.
 */
export async function toImageLock(config: ImageConfig): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "image-lock-" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, toConfigText(config));
    await Deno.copyFile(`${REPO_ROOT}deno.lock`, `${dir}/deno.lock`);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["install"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) throw new Error(`Cannot make the image lock: ${new TextDecoder().decode(output.stderr)}`);
    return await Deno.readTextFile(`${dir}/deno.lock`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** deno.json text as `deno fmt` writes it. */
export function toConfigText(config: ImageConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The expected deploy/<component>/deno.json and deno.lock texts, derived from the root files. */
export async function deriveImageFiles(component: Component): Promise<{ config: string; lock: string }> {
  const config = toImageConfig(readRootImports(), await listImportedPackages(component));
  return { config: toConfigText(config), lock: await toImageLock(config) };
}

if (import.meta.main) {
  for (const component of COMPONENTS) {
    const { config, lock } = await deriveImageFiles(component);
    await Deno.writeTextFile(`${REPO_ROOT}deploy/${component}/deno.json`, config);
    await Deno.writeTextFile(`${REPO_ROOT}deploy/${component}/deno.lock`, lock);
    console.log(`deploy/${component}/deno.json and deno.lock written`);
  }
}
