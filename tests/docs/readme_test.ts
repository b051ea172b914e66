/**
 * The README files are the operator's reference, each beside the code it describes. Across all of them, every problem
 * code the handler answers (with its status), every line code, every metric and every environment variable the two
 * config loaders read has exactly one table row; no line is wider than 120 characters; every relative link leads to a
 * file, and its anchor to a heading; the root README's folder map lists exactly the folders of the tree.
 */
import assert from "node:assert/strict";
import { loadHandlerConfig } from "../../handler/config.ts";
import { PROBLEM_CODES } from "../../handler/http/http_error.ts";
import { loadRelayConfig } from "../../relay/config.ts";
import { LINE_ERROR_CODES } from "../../shared/contract/line_error.ts";
import { ALL_METRICS, type MetricSpec, toPrometheusName } from "../../shared/telemetry/metric_names.ts";
import { recordReads } from "../support/env_reads.ts";
import {
  headingAnchors,
  proseLines,
  type ReadmePage,
  readReadmePages,
  relativeLinks,
  type TableRow,
  tableRows,
} from "./readme_pages.ts";

const ROOT = new URL("../../", import.meta.url);
const PAGES = readReadmePages(ROOT);
const ROWS = PAGES.flatMap(tableRows);

/** Widest line a README may have, in characters. */
const LINE_CHARS_MAX = 120;

/** The pages that document each component's settings; the shared page holds those both components read alike. */
const SETTINGS_PAGES = {
  handler: ["handler/README.md", "shared/telemetry/README.md"],
  relay: ["relay/README.md", "shared/telemetry/README.md"],
} as const;

/** The top-level folders the root README's folder map covers. */
const MAPPED_FOLDERS = ["relay", "shared", "handler", "deploy", "tests"];

/** Names every process has, read by the loaders as fallbacks (README names what they fall back to, not these). */
const PROCESS_ENV_NAMES = new Set(["HOME", "HOSTNAME", "KUBERNETES_SERVICE_HOST"]);

/** The names a loader reads from each of the environments. */
function namesRead(load: (env: Record<string, string | undefined>) => unknown, envs: Record<string, string>[]) {
  const names = new Set<string>();
  for (const env of envs) {
    const recorded = recordReads(env);
    try {
      load(recorded.env);
    } catch {
      // A refused environment still shows which names were read; every problem is collected before the throw.
    }
    for (const name of recorded.names) if (/^[A-Z][A-Z0-9_]*$/.test(name)) names.add(name);
  }
  return [...names].filter((name) => !PROCESS_ENV_NAMES.has(name)).sort();
}

/** Where a row is, for messages: `handler/README.md:120`. */
function where(rows: readonly TableRow[]): string {
  return rows.map((row) => `${row.path}:${row.line}`).join(", ") || "nowhere";
}

/** The rows whose first cell is `name` in backticks. */
function rowsNamed(name: string, rows: readonly TableRow[] = ROWS): TableRow[] {
  return rows.filter((row) => row.cells[0] === `\`${name}\``);
}

/** How a metric's labels read in its table row: "`cluster`, `code`", or "-" without labels. */
function toLabelsCell(spec: MetricSpec): string {
  return spec.labels.length === 0 ? "-" : spec.labels.map((label) => `\`${label}\``).join(", ");
}

/** Every folder under the mapped top-level folders, as `handler/http/`. */
function foldersOfTree(): string[] {
  const folders: string[] = [];
  const walk = (dir: string) => {
    folders.push(dir);
    for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
      if (entry.isDirectory && !entry.name.startsWith(".")) walk(`${dir}${entry.name}/`);
    }
  };
  for (const folder of MAPPED_FOLDERS) walk(`${folder}/`);
  return folders.sort();
}

/** The folders the root README's "Folders" table lists. */
function foldersOfMap(root: ReadmePage): string[] {
  const lines = proseLines(root);
  const start = lines.findIndex(({ text }) => text === "## Folders");
  assert.ok(start >= 0, "README.md has no '## Folders' section");
  const end = lines.findIndex(({ text }, index) => index > start && text.startsWith("## "));
  const section = lines.slice(start, end < 0 ? undefined : end).map(({ text }) => text);
  return tableRows({ path: root.path, lines: section })
    .map((row) => /^`([^`]+\/)`$/.exec(row.cells[0] ?? "")?.[1])
    .filter((folder) => folder !== undefined)
    .sort();
}

Deno.test("README files are found beside the code they describe", () => {
  const paths = PAGES.map((page) => page.path);
  for (const path of ["README.md", "handler/README.md", "relay/README.md", "deploy/README.md", "tests/README.md"]) {
    assert.ok(paths.includes(path), `${path} is missing from ${paths.join(", ")}`);
  }
});

Deno.test("README files give every problem code exactly one table row, with its status", () => {
  for (const [code, { status }] of Object.entries(PROBLEM_CODES)) {
    const rows = ROWS.filter((row) => row.cells.includes(`\`${code}\``));
    assert.equal(rows.length, 1, `\`${code}\` has ${rows.length} table rows: ${where(rows)}`);
    assert.ok(rows[0]!.cells.includes(String(status)), `\`${code}\` row lacks status ${status}: ${where(rows)}`);
  }
});

Deno.test("README files give every line code exactly one table row", () => {
  for (const code of LINE_ERROR_CODES) {
    const rows = rowsNamed(code);
    assert.equal(rows.length, 1, `line code \`${code}\` has ${rows.length} table rows: ${where(rows)}`);
  }
});

Deno.test("README files give every metric exactly one table row with its type and labels", () => {
  for (const spec of ALL_METRICS) {
    const name = toPrometheusName(spec);
    const rows = rowsNamed(name);
    assert.equal(rows.length, 1, `metric \`${name}\` has ${rows.length} table rows: ${where(rows)}`);
    const cells = rows[0]!.cells;
    assert.equal(cells[1], spec.kind, `type of \`${name}\` at ${where(rows)}`);
    assert.equal(cells[3], toLabelsCell(spec), `labels of \`${name}\` at ${where(rows)}`);
    assert.equal(cells[4], spec.origin === "krateo" ? "Krateo" : "new", `origin of \`${name}\` at ${where(rows)}`);
  }
  const documented = ROWS.map((row) => /^`(events_ingester_[a-z0-9_]+)`$/.exec(row.cells[0] ?? "")?.[1]);
  const known = new Set(ALL_METRICS.map(toPrometheusName));
  assert.deepEqual(documented.filter((name) => name !== undefined && !known.has(name)), []);
});

Deno.test("README files give every variable the loaders read exactly one table row per component", () => {
  const read = {
    handler: namesRead(loadHandlerConfig, [{ DATABASE_URL: "postgres://u@db/events" }, { DB_HOST: "db" }]),
    relay: namesRead(loadRelayConfig, [{}, { KUBERNETES_SERVICE_HOST: "10.96.0.1" }]),
  };
  // The loaders read far more than a handful of names; a proxy that recorded nothing would make this test empty.
  assert.ok(read.handler.length > 20 && read.relay.length > 20, `${read.handler.length} / ${read.relay.length}`);
  const problems: string[] = [];
  for (const component of ["handler", "relay"] as const) {
    const pages: readonly string[] = SETTINGS_PAGES[component];
    for (const name of read[component]) {
      const rows = rowsNamed(name, ROWS.filter((row) => pages.includes(row.path)));
      if (rows.length !== 1) problems.push(`${component} \`${name}\`: ${rows.length} rows in ${pages.join(" + ")}`);
    }
  }
  for (const name of new Set([...read.handler, ...read.relay])) {
    const owners = (["handler", "relay"] as const).filter((component) => read[component].includes(name));
    const pages = new Set<string>(owners.flatMap((component) => SETTINGS_PAGES[component]));
    const elsewhere = rowsNamed(name).filter((row) => !pages.has(row.path));
    if (elsewhere.length > 0) problems.push(`\`${name}\` also has a row at ${where(elsewhere)}`);
  }
  assert.deepEqual(problems, []);
});

Deno.test(`README files have no line wider than ${LINE_CHARS_MAX} characters`, () => {
  const wide = PAGES.flatMap((page) =>
    page.lines.flatMap((text, index) => {
      const chars = [...text].length;
      return chars > LINE_CHARS_MAX ? [`${page.path}:${index + 1} has ${chars} characters`] : [];
    })
  );
  assert.deepEqual(wide, []);
});

Deno.test("README files link only to files that exist and headings that exist", () => {
  const anchorsByPath = new Map(PAGES.map((page) => [page.path, headingAnchors(page)]));
  const broken: string[] = [];
  for (const link of PAGES.flatMap(relativeLinks)) {
    const [file, anchor] = link.target.split("#", 2) as [string, string | undefined];
    const url = new URL(file, new URL(link.path, ROOT));
    const target = url.href.slice(ROOT.href.length).replace(/\/$/, "");
    let exists = true;
    try {
      Deno.statSync(url);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      exists = false;
    }
    if (!exists) broken.push(`${link.path}:${link.line} ${link.target}: no file ${target}`);
    else if (anchor !== undefined && !anchorsByPath.get(file === "" ? link.path : target)?.has(anchor)) {
      broken.push(
        `${link.path}:${link.line} ${link.target}: no heading #${anchor} in ${file === "" ? link.path : target}`,
      );
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("README.md maps every folder of the tree, one row each, and no other", () => {
  const root = PAGES.find((page) => page.path === "README.md")!;
  assert.deepEqual(foldersOfMap(root), foldersOfTree());
});
