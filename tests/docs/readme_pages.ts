/**
 * The repository's README.md files as the docs tests read them: their table rows, heading anchors and relative links,
 * outside fenced code blocks.
 */

/** One README.md: its path from the repository root (`handler/README.md`) and its lines. */
export interface ReadmePage {
  path: string;
  lines: readonly string[];
}

/** One table row: the page and 1-based line it is on, and its trimmed cells. */
export interface TableRow {
  path: string;
  line: number;
  cells: readonly string[];
}

/** One relative link: where it is, and its target as written (`../relay/README.md#refused-batches`). */
export interface RelativeLink {
  path: string;
  line: number;
  target: string;
}

/** Folders never searched for pages: tooling, dependencies, local data. */
const SKIPPED_DIRS = new Set(["node_modules", ".git", ".data"]);

/** Every README.md under `root`, sorted by path; folders starting with a dot and `node_modules` are skipped. */
export function readReadmePages(root: URL): ReadmePage[] {
  const paths: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, root))) {
      if (entry.isDirectory && !SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith(".")) {
        walk(`${dir}${entry.name}/`);
      } else if (entry.isFile && entry.name === "README.md") {
        paths.push(`${dir}${entry.name}`);
      }
    }
  };
  walk("");
  return paths.sort().map((path) => ({ path, lines: Deno.readTextFileSync(new URL(path, root)).split("\n") }));
}

/** The lines of a page that are not inside a fenced code block, with their 1-based numbers. */
export function proseLines(page: ReadmePage): { line: number; text: string }[] {
  const result: { line: number; text: string }[] = [];
  let fence: string | undefined;
  page.lines.forEach((text, index) => {
    const opening = /^\s*(```+|~~~+)/.exec(text)?.[1];
    if (fence === undefined && opening !== undefined) fence = opening;
    else if (fence !== undefined && text.trim().startsWith(fence)) fence = undefined;
    else if (fence === undefined) result.push({ line: index + 1, text });
  });
  return result;
}

/** The table rows of a page (header and separator rows included), split on pipes that are not escaped. */
export function tableRows(page: ReadmePage): TableRow[] {
  return proseLines(page).filter(({ text }) => text.startsWith("|")).map(({ line, text }) => ({
    path: page.path,
    line,
    cells: text.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim()),
  }));
}

/** The anchor GitHub gives a heading's text: lower case, punctuation dropped, spaces turned into hyphens. */
export function toGithubSlug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "");
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Every anchor of a page's headings; a repeated heading gets `-1`, `-2`, … as on GitHub. */
export function headingAnchors(page: ReadmePage): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(page)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const slug = toGithubSlug(heading);
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** The links of a page whose target has no scheme (not `https:`, `mailto:`), outside code. */
export function relativeLinks(page: ReadmePage): RelativeLink[] {
  const links: RelativeLink[] = [];
  for (const { line, text } of proseLines(page)) {
    const withoutCode = text.replace(/`[^`]*`/g, "");
    for (const match of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push({ path: page.path, line, target });
    }
  }
  return links;
}
