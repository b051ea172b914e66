import assert from "node:assert/strict";
import { headingAnchors, type ReadmePage, relativeLinks, tableRows, toGithubSlug } from "./readme_pages.ts";

/** A page made of `lines`, as readReadmePages returns it. */
function page(lines: string[]): ReadmePage {
  return { path: "handler/README.md", lines };
}

Deno.test("toGithubSlug gives the anchors GitHub gives these headings", () => {
  // The anchors GitHub renders for headings of this repository's README files.
  assert.equal(toGithubSlug("`POST /v1/events`"), "post-v1events");
  assert.equal(toGithubSlug("Watching events live: `deno task tail`"), "watching-events-live-deno-task-tail");
  assert.equal(toGithubSlug("The NDJSON contract (version 1)"), "the-ndjson-contract-version-1");
  assert.equal(toGithubSlug("Probes, metrics and shutdown"), "probes-metrics-and-shutdown");
  assert.equal(toGithubSlug("Using `ingester_gaps`"), "using-ingester_gaps");
});

Deno.test("headingAnchors numbers a repeated heading and skips headings inside code blocks", () => {
  const anchors = headingAnchors(page(["# Title", "## Handler", "```sh", "# not a heading", "```", "### Handler"]));
  assert.deepEqual([...anchors], ["title", "handler", "handler-1"]);
});

Deno.test("tableRows splits on pipes that are not escaped and skips code blocks", () => {
  const rows = tableRows(
    page(["| `--type <Normal\\|Warning>` | only events of this type |", "```", "| code |", "```"]),
  );
  assert.deepEqual(rows, [
    { path: "handler/README.md", line: 1, cells: ["`--type <Normal\\|Warning>`", "only events of this type"] },
  ]);
});

Deno.test("relativeLinks keeps relative targets and leaves out URLs and code", () => {
  const links = relativeLinks(page([
    "See [relay](../relay/README.md#memory), [here](#limits) and [site](https://example.com).",
    "Not a link: `[x](y.md)`.",
  ]));
  assert.deepEqual(links, [
    { path: "handler/README.md", line: 1, target: "../relay/README.md#memory" },
    { path: "handler/README.md", line: 1, target: "#limits" },
  ]);
});
