/**
 * Test support: the build context a `.dockerignore` leaves, with Docker's rules (moby/patternmatcher): patterns are
 * matched against the path relative to the context root, `*` and `?` stay within one path segment, `**` spans any
 * number of segments, a pattern that matches a folder matches everything below it, `!` re-includes, and the last
 * pattern that matches decides.
 */

/** One pattern of a .dockerignore file. */
export interface IgnorePattern {
  pattern: string;
  isExclusion: boolean;
  regex: RegExp;
}

/** Parses .dockerignore text: comments and blank lines skipped, each pattern cleaned of leading and trailing `/`. */
export function parseDockerignore(text: string): IgnorePattern[] {
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const isExclusion = line.startsWith("!");
      const pattern = (isExclusion ? line.slice(1) : line).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      return { pattern, isExclusion, regex: toPatternRegex(pattern) };
    });
}

function toPatternRegex(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*" && pattern[i + 1] === "*") {
      // `**/` matches zero or more folders; a trailing `**` matches everything below.
      if (pattern[i + 2] === "/") {
        source += "(?:.*/)?";
        i += 2;
      } else {
        source += ".*";
        i += 1;
      }
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** True when the context leaves `path` (relative, `/`-separated) out: it or a folder above it is ignored. */
export function isIgnored(patterns: IgnorePattern[], path: string): boolean {
  const segments = path.split("/");
  const candidates = segments.map((_, index) => segments.slice(0, index + 1).join("/"));
  let ignored = false;
  for (const { isExclusion, regex } of patterns) {
    if (candidates.some((candidate) => regex.test(candidate))) ignored = !isExclusion;
  }
  return ignored;
}
