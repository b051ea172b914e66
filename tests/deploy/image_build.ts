/**
 * Test support: builds an image's /app folder without Docker, by doing what deploy/<component>/Dockerfile says:
 * every COPY takes its sources from the build context its Dockerfile.dockerignore leaves, and every RUN runs with
 * the local deno (Deno.execPath()) in that folder. DENO_DIR is the test's own cache (the image's is /deno-dir), so
 * the RUN steps resolve packages from it, and from the npm registry only for what it lacks.
 */
import { parseDockerfile } from "./dockerfile.ts";
import { isIgnored, parseDockerignore } from "./dockerignore.ts";
import { REPO_ROOT } from "./render.ts";

/** The relative paths of every file below `source` (a file or a folder of the repository) the context keeps. */
export function listContextFiles(component: string, source: string): string[] {
  const patterns = parseDockerignore(Deno.readTextFileSync(`${REPO_ROOT}deploy/${component}/Dockerfile.dockerignore`));
  const clean = source.replace(/^\.\//, "").replace(/\/+$/, "");
  const files: string[] = [];
  const walk = (relative: string) => {
    if (isIgnored(patterns, relative)) return;
    const info = Deno.statSync(`${REPO_ROOT}${relative}`);
    if (info.isFile) files.push(relative);
    else if (info.isDirectory) {
      for (const entry of Deno.readDirSync(`${REPO_ROOT}${relative}`)) walk(`${relative}/${entry.name}`);
    }
  };
  walk(clean);
  return files.sort();
}

/** One COPY: its sources and destination (relative to WORKDIR). */
function parseCopy(args: string): { sources: string[]; destination: string } {
  const parts = args.split(/\s+/);
  if (parts.some((part) => part.startsWith("--"))) throw new SyntaxError(`Cannot build COPY with flags: ${args}`);
  return { sources: parts.slice(0, -1), destination: parts.at(-1)! };
}

/** Copies what one COPY takes from the context into `appDir`; throws when the context leaves nothing of a source. */
function runCopy(component: string, args: string, appDir: string): void {
  const { sources, destination } = parseCopy(args);
  for (const source of sources) {
    const clean = source.replace(/\/+$/, "");
    const files = listContextFiles(component, clean);
    if (files.length === 0) throw new Error(`Cannot COPY ${source}: the build context does not hold it`);
    const isFolder = Deno.statSync(`${REPO_ROOT}${clean}`).isDirectory;
    for (const file of files) {
      // A folder's contents go below the destination; a file goes into it (destination ending in "/").
      const target = isFolder
        ? `${destination.replace(/\/+$/, "")}/${file.slice(clean.length + 1)}`
        : `${destination.replace(/\/+$/, "")}/${file.split("/").at(-1)}`;
      const path = `${appDir}/${target.replace(/^\.\//, "")}`;
      Deno.mkdirSync(path.replace(/\/[^/]+$/, ""), { recursive: true });
      Deno.copyFileSync(`${REPO_ROOT}${file}`, path);
    }
  }
}

/** Runs one RUN (a plain `deno ...` command, no shell) in `appDir`; throws with its output when it fails. */
async function runStep(args: string, appDir: string): Promise<void> {
  const [program, ...rest] = args.split(/\s+/);
  if (program !== "deno") throw new Error(`Cannot run "${args}": only deno steps are built here`);
  const output = await new Deno.Command(Deno.execPath(), {
    args: rest,
    cwd: appDir,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot build step "RUN ${args}": ${text}`);
  }
}

/** The steps of deploy/<component>/Dockerfile that make /app, as written (`COPY ...`, `RUN ...`). */
export function listBuildSteps(component: string): string[] {
  return parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}deploy/${component}/Dockerfile`)).instructions
    .filter((i) => i.keyword === "COPY" || i.keyword === "RUN").map((i) => `${i.keyword} ${i.args}`);
}

/**
 * Builds the image's WORKDIR into `appDir` (created when missing): every COPY and RUN of the Dockerfile in order.
 * Returns `appDir`.
 */
export async function buildImageDir(component: string, appDir: string): Promise<string> {
  await Deno.mkdir(appDir, { recursive: true });
  for (const step of listBuildSteps(component)) {
    const [keyword, ...rest] = step.split(" ");
    if (keyword === "COPY") runCopy(component, rest.join(" "), appDir);
    else await runStep(rest.join(" "), appDir);
  }
  return appDir;
}

/** The npm packages installed in `appDir`'s node_modules/.deno, as `name@version` (scoped names with `/`), sorted. */
export function listInstalledPackages(appDir: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(`${appDir}/node_modules/.deno`)) {
    if (!entry.isDirectory || entry.name === "node_modules") continue;
    // `@scope+name@1.2.3` is `@scope/name@1.2.3`; a peer-dependency suffix (`_peer@1`) is not part of the version.
    names.push(entry.name.replace(/^(@[^+]+)\+/, "$1/").replace(/_.*$/, ""));
  }
  return names.sort();
}
