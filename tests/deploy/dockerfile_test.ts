/**
 * deploy/<component>/Dockerfile: the official Deno image of the version CI uses, dependencies cached from the lock
 * before the code is copied, only the component's own code, an unprivileged user, and `deno run` with a short list
 * of permissions (each shown to suffice in image_command_test.ts).
 */
import assert from "node:assert/strict";
import { HANDLER_DEFAULTS } from "../../handler/config.ts";
import { RELAY_DEFAULTS } from "../../relay/config.ts";
import { parseDockerfile } from "./dockerfile.ts";
import { KUBECTL, renderKustomization, REPO_ROOT } from "./render.ts";
import { findComponent } from "./workloads.ts";
import { readRelayTaskV8Flags } from "../support/relay_command.ts";

/** The Deno version .ci/run installs. */
function ciDenoVersion(): string {
  const match = /^DENO_VERSION=(\S+)$/m.exec(Deno.readTextFileSync(`${REPO_ROOT}.ci/run`));
  if (!match) throw new Error("Cannot find DENO_VERSION in .ci/run");
  return match[1]!;
}

const EXPECTED = {
  handler: {
    port: HANDLER_DEFAULTS.port,
    excluded: ["handler/tail/", "handler/dev/"],
    flags: [
      "--v8-flags=--max-old-space-size=256,--max-semi-space-size=2",
      "--allow-net",
      "--allow-env",
      "--allow-read=/var/run/secrets/events-ingester",
    ],
  },
  relay: {
    port: RELAY_DEFAULTS.healthPort,
    excluded: ["relay/simulator/"],
    flags: [
      "--v8-flags=--max-old-space-size=64,--max-semi-space-size=4",
      "--allow-net",
      "--allow-env",
      "--allow-read=/var/run/secrets",
      "--allow-sys=hostname",
    ],
  },
} as const;

for (const component of ["handler", "relay"] as const) {
  const path = `deploy/${component}/Dockerfile`;

  Deno.test(`${path} builds on the official Deno image of the version CI tests with`, () => {
    const dockerfile = parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}${path}`));
    assert.equal(dockerfile.from, `denoland/deno:${ciDenoVersion()}`);
    assert.equal(dockerfile.env.DENO_DIR, "/deno-dir");
  });

  Deno.test(`${path} caches its own dependencies before it copies the code, and copies only ${component}/ and shared/`, () => {
    const steps = parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}${path}`)).instructions
      .filter((i) => i.keyword === "COPY" || i.keyword === "RUN")
      .map((i) => `${i.keyword} ${i.args}`);
    assert.deepEqual(steps, [
      `COPY deploy/${component}/deno.json deploy/${component}/deno.lock ./`,
      "RUN deno install --frozen",
      "COPY shared/ shared/",
      `COPY ${component}/ ${component}/`,
      `RUN deno cache --frozen ${component}/main.ts`,
    ]);
  });

  Deno.test(`${path} runs ${component}/main.ts as user 1993 with only its permissions, offline`, () => {
    const dockerfile = parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}${path}`));
    assert.equal(dockerfile.user, "1993:1993");
    assert.deepEqual(dockerfile.exposedPorts, [EXPECTED[component].port]);
    assert.deepEqual(dockerfile.command, [
      "deno",
      "run",
      "--cached-only",
      "--frozen",
      "--no-prompt",
      ...EXPECTED[component].flags,
      `${component}/main.ts`,
    ]);
    assert.ok(Deno.statSync(`${REPO_ROOT}${component}/main.ts`).isFile);
  });

  Deno.test({
    name: `deploy/ runs the ${component} image as its user 1993`,
    ignore: KUBECTL === null,
    fn: async () => {
      const objects = await renderKustomization(KUBECTL!, "deploy/overlays/single-cluster");
      const pod = findComponent(objects, component).pod;
      assert.equal(pod.securityContext?.runAsUser, 1993);
      assert.equal((pod.securityContext as { runAsGroup?: number }).runAsGroup, 1993);
      assert.match(pod.containers[0]!.image, new RegExp(`/events-ingester/${component}:`));
    },
  });

  Deno.test(`${path}.dockerignore sends only the image's deno.json and lock, shared/ and what ${component}/main.ts runs`, () => {
    const lines = Deno.readTextFileSync(`${REPO_ROOT}${path}.dockerignore`).split("\n").filter((l) =>
      l && !l.startsWith("#")
    );
    assert.deepEqual(lines, [
      "*",
      `!deploy/${component}/deno.json`,
      `!deploy/${component}/deno.lock`,
      "!shared/",
      `!${component}/`,
      ...EXPECTED[component].excluded,
      "**/*_test.ts",
    ]);
  });
}

Deno.test("parseDockerfile joins continued lines and reads ENV pairs, USER, EXPOSE and the exec-form command", () => {
  const dockerfile = parseDockerfile(
    'FROM img:1\n# comment\nENV A=1 \\\n    B=2\nUSER 5:5\nEXPOSE 80 81\nENTRYPOINT ["deno"]\nCMD ["run", "x.ts"]\n',
  );
  assert.deepEqual(
    [dockerfile.from, dockerfile.env, dockerfile.user, dockerfile.exposedPorts, dockerfile.command],
    ["img:1", { A: "1", B: "2" }, "5:5", [80, 81], ["deno", "run", "x.ts"]],
  );
  assert.throws(() => parseDockerfile("CMD deno run x.ts\n"), SyntaxError);
});

Deno.test("the relay image runs with the same V8 flags as `deno task relay`, which the memory tests and bench use", async () => {
  const image = parseDockerfile(Deno.readTextFileSync(`${REPO_ROOT}deploy/relay/Dockerfile`));
  const flags = await readRelayTaskV8Flags();
  assert.notEqual(flags, "none");
  assert.ok(image.command.includes(`--v8-flags=${flags}`), `image command: ${image.command.join(" ")}`);
});
