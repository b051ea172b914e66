/**
 * deploy/ pods: non-root, read-only root filesystem, all capabilities dropped, RuntimeDefault seccomp, nothing from
 * the host, resources requested and limited, images pinned.
 */
import assert from "node:assert/strict";
import { KUBECTL, listKustomizations, renderKustomization } from "./render.ts";
import { allContainers, listWorkloads, type PodSpec, type SecurityContext } from "./workloads.ts";

const ignore = KUBECTL === null;

/** Kubernetes quantity to a number: cores for CPU (`250m`), bytes for memory (`192Mi`). */
function parseQuantity(quantity: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(quantity));
  if (!match) throw new RangeError(`Cannot parse quantity: "${quantity}"`);
  const factors: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(match[1]) * (match[2] ? factors[match[2]]! : 1);
}

/** What is wrong with the pod's security settings, one line per container and rule. */
function findSecurityProblems(pod: PodSpec): string[] {
  const problems: string[] = [];
  const podContext = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push("pod: shares a host namespace");
  if ((pod.volumes ?? []).some((volume) => volume.hostPath !== undefined)) problems.push("pod: mounts a hostPath");
  if (podContext.runAsUser === 0) problems.push("pod: runAsUser 0");
  for (const volume of pod.volumes ?? []) {
    const mode = volume.secret?.defaultMode ?? volume.configMap?.defaultMode ?? 0o644;
    const isReadable = (mode & 0o004) !== 0 || ((mode & 0o040) !== 0 && podContext.fsGroup !== undefined) ||
      ((mode & 0o400) !== 0 && podContext.runAsUser === 0);
    if ((volume.secret || volume.configMap) && !isReadable) {
      problems.push(`pod: volume ${volume.name} (mode ${mode.toString(8)}) is not readable by the container user`);
    }
  }
  for (const container of allContainers(pod)) {
    const context: SecurityContext = container.securityContext ?? {};
    const say = (what: string) => problems.push(`${container.name}: ${what}`);
    if ((context.runAsNonRoot ?? podContext.runAsNonRoot) !== true) say("runAsNonRoot is not true");
    if (context.runAsUser === 0) say("runAsUser 0");
    if (context.allowPrivilegeEscalation !== false) say("allowPrivilegeEscalation is not false");
    if (context.privileged === true) say("privileged");
    if (context.readOnlyRootFilesystem !== true) say("readOnlyRootFilesystem is not true");
    if (JSON.stringify(context.capabilities?.drop) !== '["ALL"]') say("capabilities.drop is not [ALL]");
    if ((context.capabilities?.add ?? []).length > 0) say("adds capabilities");
    if ((context.seccompProfile ?? podContext.seccompProfile)?.type !== "RuntimeDefault") {
      say("seccomp is not RuntimeDefault");
    }
    const { requests = {}, limits = {} } = container.resources ?? {};
    for (const resource of ["cpu", "memory"]) {
      const request = requests[resource];
      const limit = limits[resource];
      if (request === undefined) say(`no ${resource} request`);
      if (limit === undefined) say(`no ${resource} limit`);
      if (request !== undefined && limit !== undefined && parseQuantity(request) > parseQuantity(limit)) {
        say(`${resource} request above its limit`);
      }
    }
    if (!/:[\w][\w.-]*$|@sha256:[0-9a-f]{64}$/.test(container.image) || container.image.endsWith(":latest")) {
      say(`image ${container.image} is not pinned to a tag or digest`);
    }
  }
  return problems;
}

Deno.test("parseQuantity reads CPU and memory quantities", () => {
  assert.deepEqual(["250m", "1", "192Mi", "1Gi", "500M"].map(parseQuantity), [
    0.25,
    1,
    192 * 1024 ** 2,
    1024 ** 3,
    5e8,
  ]);
  assert.throws(() => parseQuantity("1 Gi"), { name: "RangeError", message: 'Cannot parse quantity: "1 Gi"' });
});

Deno.test("findSecurityProblems names every rule a bare container breaks", () => {
  assert.deepEqual(findSecurityProblems({ containers: [{ name: "c", image: "i" }] }), [
    "c: runAsNonRoot is not true",
    "c: allowPrivilegeEscalation is not false",
    "c: readOnlyRootFilesystem is not true",
    "c: capabilities.drop is not [ALL]",
    "c: seccomp is not RuntimeDefault",
    "c: no cpu request",
    "c: no cpu limit",
    "c: no memory request",
    "c: no memory limit",
    "c: image i is not pinned to a tag or digest",
  ]);
});

for (const dir of listKustomizations()) {
  Deno.test({
    name:
      `${dir}: every pod runs non-root, read-only, without capabilities, with RuntimeDefault seccomp, limits and readable Secrets`,
    ignore,
    fn: async () => {
      const workloads = listWorkloads(await renderKustomization(KUBECTL!, dir));
      const problems = workloads.flatMap((w) =>
        findSecurityProblems(w.pod).map((p) => `${w.object.kind}/${w.object.metadata.name} ${p}`)
      );
      assert.deepEqual(problems, []);
    },
  });
}
