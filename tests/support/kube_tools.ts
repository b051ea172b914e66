/**
 * Where the real Kubernetes binaries built by `tests/tools/build_tools.sh` live, whether they can be had on this
 * machine, and building them when they are missing. The script is the one place that names the versions.
 */

/** The binaries `build_tools.sh` builds. */
export type ToolName = "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kubectl" | "etcd" | "helm";

/** One built binary: its release and where it is (or will be) in the cache folder. */
export interface Tool {
  version: string;
  path: string;
}

export type Tools = Record<ToolName, Tool>;

/**
 * Whether the tools can be used: `cached` (every binary is there), `buildable` (some are missing, Go is on PATH and
 * `ensureTools` will build them) or `missing` (some are missing and there is no Go to build them).
 */
export type ToolAvailability =
  | { state: "cached"; tools: Tools }
  | { state: "buildable"; tools: Tools; missing: ToolName[] }
  | { state: "missing"; tools: Tools; missing: ToolName[]; message: string };

/** Exit code of `build_tools.sh` when Go is not on PATH. */
export const EXIT_NO_GO = 3;

const SCRIPT_PATH = decodeURIComponent(new URL("../tools/build_tools.sh", import.meta.url).pathname);
const TOOL_NAMES: readonly ToolName[] = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
  "etcd",
  "helm",
];

/** Parses `build_tools.sh --paths` output: one `<binary> <version> <path>` line per binary. */
export function parseToolPaths(text: string): Tools {
  const tools: Partial<Tools> = {};
  for (const line of text.split("\n").filter((line) => line.trim() !== "")) {
    const [name, version, path, ...rest] = line.trim().split(/\s+/);
    if (!name || !version || !path || rest.length > 0 || !(TOOL_NAMES as string[]).includes(name)) {
      throw new SyntaxError(`Cannot parse a build_tools.sh --paths line: ${JSON.stringify(line)}`);
    }
    tools[name as ToolName] = { version, path };
  }
  const absent = TOOL_NAMES.filter((name) => !tools[name]);
  if (absent.length > 0) throw new SyntaxError(`Cannot find ${absent.join(", ")} in build_tools.sh --paths output`);
  return tools as Tools;
}

/** Asks the build script where each binary lives (synchronous so tests can decide at registration to skip). */
export function readToolPaths(): Tools {
  const output = new Deno.Command("bash", { args: [SCRIPT_PATH, "--paths"], stdin: "null" }).outputSync();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot read the tool paths: build_tools.sh --paths exited ${output.code}: ${stderr}`);
  }
  return parseToolPaths(text);
}

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return false;
    throw error;
  }
}

/** Whether an executable `go` is in one of PATH's folders. */
export function isGoOnPath(path = Deno.env.get("PATH") ?? ""): boolean {
  return path.split(":").some((dir) => dir !== "" && isExecutableFile(`${dir}/go`));
}

/** Checks the cache folder and PATH, without building anything. */
export function findToolAvailability(): ToolAvailability {
  const tools = readToolPaths();
  const missing = TOOL_NAMES.filter((name) => !isExecutableFile(tools[name].path));
  if (missing.length === 0) return { state: "cached", tools };
  if (isGoOnPath()) return { state: "buildable", tools, missing };
  const first = tools[missing[0]!];
  const message = `Go is not on PATH and ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not built ` +
    `(${first.path} does not exist); run \`deno task tools\` on a machine with Go`;
  return { state: "missing", tools, missing, message };
}

/**
 * Returns the tools, running `build_tools.sh` first when a binary is missing (its progress goes to this process's
 * stdout and stderr; a cold build takes many minutes). Throws when a binary is missing and `isBuildAllowed` is false,
 * when Go is not on PATH, or when the build fails.
 */
export async function ensureTools(options: { isBuildAllowed?: boolean } = {}): Promise<Tools> {
  const availability = findToolAvailability();
  if (availability.state === "cached") return availability.tools;
  if (availability.state === "missing") throw new Error(`Cannot start the control plane: ${availability.message}`);
  if (options.isBuildAllowed === false) {
    throw new Error(
      `Cannot start the control plane: ${availability.missing.join(", ")} not built and building is not allowed`,
    );
  }
  const status = await new Deno.Command("bash", { args: [SCRIPT_PATH], stdin: "null" }).spawn().status;
  if (!status.success) {
    const reason = status.code === EXIT_NO_GO ? "Go is not on PATH" : `build_tools.sh exited ${status.code}`;
    throw new Error(`Cannot build the control plane's binaries: ${reason}`);
  }
  return readToolPaths();
}
