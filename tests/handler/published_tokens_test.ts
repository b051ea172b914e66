/**
 * PUBLISHED_TOKEN_HASHES is derived from the repository: every token that an example Secret, a Helm example, a
 * README or the chart's notes publishes has its hash in the list, and the list holds nothing else. Adding an
 * example token without listing it (or listing a hash no file publishes) fails here.
 */
import assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { PUBLISHED_TOKEN_HASHES } from "../../handler/config.ts";
import { parseTokenHashes, toTokenHashHex } from "../../handler/http/token_hashes.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Folders never scanned: dependencies, VCS data, local data, captured third-party fixtures. */
const SKIPPED = new Set(["node_modules", ".git", ".data", "tests"]);

/** Files below the repository root (relative paths), sorted, whose name ends with one of `suffixes`. */
function listFiles(suffixes: string[]): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${relative}`)) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory && !SKIPPED.has(entry.name)) walk(path);
      else if (entry.isFile && suffixes.some((suffix) => entry.name.endsWith(suffix))) found.push(path);
    }
  };
  walk("");
  return found.sort();
}

/** Helm templates are Go templates, not YAML: they are read as text, like the docs. */
function isTemplate(path: string): boolean {
  return /\/templates\//.test(path);
}

/** Every string in a YAML document that is a token: the value of a `token` key, or of HANDLER_TOKEN. */
function collectYamlTokens(node: unknown, into: string[]): void {
  if (Array.isArray(node)) {
    for (const item of node) collectYamlTokens(item, into);
  } else if (typeof node === "object" && node !== null) {
    const record = node as Record<string, unknown>;
    if (record.name === "HANDLER_TOKEN" && typeof record.value === "string") into.push(record.value);
    for (const [key, value] of Object.entries(record)) {
      if ((key === "token" || key === "HANDLER_TOKEN") && typeof value === "string") into.push(value);
      else collectYamlTokens(value, into);
    }
  } else if (typeof node === "string") {
    const literal = /^HANDLER_TOKEN=(.+)$/.exec(node);
    if (literal) into.push(literal[1]!);
  }
}

/**
 * Tokens written literally in prose or a template: `HANDLER_TOKEN=<value>` and `--from-literal=token=<value>`.
 * Placeholders (`<token>`, `$token`, `"$token"`, `{{ ... }}`, `…`) are not tokens.
 */
function findTextTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(/(?:HANDLER_TOKEN=|--from-literal=token=)(['"]?)([^\s'"]+)\1/g)) {
    const value = match[2]!;
    if (!/^[<$…{]/.test(value) && !value.includes("…")) tokens.push(value);
  }
  return tokens;
}

/** Token -> files publishing it. */
function findPublishedTokens(): Map<string, string[]> {
  const published = new Map<string, string[]>();
  const add = (token: string, path: string) => published.set(token, [...published.get(token) ?? [], path]);
  for (const path of listFiles([".yaml", ".yml"]).filter((p) => !isTemplate(p))) {
    const tokens: string[] = [];
    for (const document of yaml.loadAll(Deno.readTextFileSync(`${ROOT}${path}`))) collectYamlTokens(document, tokens);
    for (const token of tokens) add(token, path);
  }
  const texts = [...listFiles([".md", ".txt"]), ...listFiles([".yaml", ".tpl"]).filter(isTemplate)];
  for (const path of texts) {
    for (const token of findTextTokens(Deno.readTextFileSync(`${ROOT}${path}`))) add(token, path);
  }
  return published;
}

/** Every `cluster=<hash>` line of the example token-hash Secrets (`hashes` keys) under deploy/. */
function findPublishedHashLines(): { path: string; cluster: string; sha256Hex: string }[] {
  const lines: { path: string; cluster: string; sha256Hex: string }[] = [];
  for (const path of listFiles([".yaml"]).filter((p) => p.startsWith("deploy/") && !isTemplate(p))) {
    for (const document of yaml.loadAll(Deno.readTextFileSync(`${ROOT}${path}`))) {
      const object = document as { kind?: string; stringData?: Record<string, string> } | null;
      const hashes = object?.kind === "Secret" ? object.stringData?.hashes : undefined;
      if (hashes === undefined) continue;
      const problems: string[] = [];
      for (const entry of parseTokenHashes(hashes, { source: path, problems })) lines.push({ path, ...entry });
      assert.deepEqual(problems, []);
    }
  }
  return lines;
}

Deno.test("PUBLISHED_TOKEN_HASHES holds the hash of every token the repository publishes, and nothing else", async () => {
  const published = findPublishedTokens();
  // The three example relay tokens at least: a scan that found nothing would make this test empty.
  assert.ok(published.size >= 3, `found ${published.size} published tokens`);
  const derived = new Map<string, string[]>();
  for (const [token, paths] of published) derived.set(await toTokenHashHex(token), paths);
  assert.deepEqual([...PUBLISHED_TOKEN_HASHES.keys()].sort(), [...derived.keys()].sort());
  for (const [hash, publisher] of PUBLISHED_TOKEN_HASHES) {
    const folders = derived.get(hash)!.map((path) => path.endsWith(".yaml") ? path.replace(/\/[^/]+$/, "") : path);
    assert.ok(folders.includes(publisher), `${hash} is published in ${folders.join(", ")}, not ${publisher}`);
  }
});

Deno.test("every hash line of the example token-hash Secrets is the hash of a published example token", () => {
  const lines = findPublishedHashLines();
  assert.ok(lines.length >= 3, `found ${lines.length} example hash lines`);
  assert.deepEqual(lines.filter((line) => !PUBLISHED_TOKEN_HASHES.has(line.sha256Hex)), []);
});

Deno.test("findTextTokens reads literal tokens and skips placeholders", () => {
  const text = [
    "HANDLER_TOKEN=dev-token-1 deno task relay",
    "HANDLER_TOKEN=<token> deno task relay",
    'kubectl create secret generic x --from-literal=token="$token"',
    "kubectl create secret generic x --from-literal=token='literal-2'",
    "HANDLER_TOKEN={{ .Values.token }}",
  ].join("\n");
  assert.deepEqual(findTextTokens(text), ["dev-token-1", "literal-2"]);
});
