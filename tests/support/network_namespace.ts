/**
 * Test support: a network namespace joined to this machine's root namespace by veth pairs, each pair carrying a /30
 * that exists only between the two ends (no route leads anywhere else), and a black hole on a pair: its inner end is
 * set down. Open connections then see silence, never a FIN or a RST: the root end loses its carrier and drops what is
 * sent to it, and the namespace, which has no other route, cannot send. A new connection from inside fails at once
 * (network unreachable). Needs root and iproute2's `ip` (no `tc`: qdiscs such as netem are not available everywhere).
 */

/** One veth pair: `hostName` / `hostIp` in the root namespace, `innerName` / `innerIp` in the test namespace. */
export interface VethPair {
  hostName: string;
  innerName: string;
  hostIp: string;
  innerIp: string;
}

/** A namespace with its pairs; `exec` runs a command inside it. */
export interface NetworkNamespace {
  name: string;
  /** The argv prefix that runs a program inside the namespace. */
  execPrefix: string[];
  addPair(pair: VethPair): Promise<void>;
  /** Drops every packet on `pair`, both directions, until `heal` (the inner end is down). */
  blackHole(pair: VethPair): Promise<void>;
  heal(pair: VethPair): Promise<void>;
  /** Deletes the namespace and every pair; safe to call more than once. */
  remove(): Promise<void>;
}

/** Runs `ip` / `tc` (or any command); throws with its stderr when it fails. */
async function run(command: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`Cannot run ${command} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
}

/** Why network namespaces cannot be made here, or undefined when they can (tried with a throwaway one). */
export function findNetnsProblem(): string | undefined {
  const name = `ei-probe-${Deno.pid}`;
  try {
    const added = new Deno.Command("ip", { args: ["netns", "add", name], stdout: "null", stderr: "piped" })
      .outputSync();
    if (!added.success) return `ip netns add failed: ${new TextDecoder().decode(added.stderr).trim()}`;
    new Deno.Command("ip", { args: ["netns", "del", name], stdout: "null", stderr: "null" }).outputSync();
    return undefined;
  } catch (error) {
    return `ip is not usable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Creates namespace `name` with its loopback up. */
export async function createNetworkNamespace(name: string): Promise<NetworkNamespace> {
  await run("ip", ["netns", "add", name]);
  const inside = (command: string, args: string[]) => run("ip", ["netns", "exec", name, command, ...args]);
  const pairs: VethPair[] = [];
  let isRemoved = false;
  try {
    await inside("ip", ["link", "set", "lo", "up"]);
  } catch (error) {
    await run("ip", ["netns", "del", name]);
    throw error;
  }
  return {
    name,
    execPrefix: ["ip", "netns", "exec", name],
    async addPair(pair) {
      pairs.push(pair);
      await run("ip", ["link", "add", pair.hostName, "type", "veth", "peer", "name", pair.innerName]);
      await run("ip", ["link", "set", pair.innerName, "netns", name]);
      await run("ip", ["addr", "add", `${pair.hostIp}/30`, "dev", pair.hostName]);
      await run("ip", ["link", "set", pair.hostName, "up"]);
      await inside("ip", ["addr", "add", `${pair.innerIp}/30`, "dev", pair.innerName]);
      await inside("ip", ["link", "set", pair.innerName, "up"]);
    },
    async blackHole(pair) {
      await inside("ip", ["link", "set", pair.innerName, "down"]);
    },
    async heal(pair) {
      await inside("ip", ["link", "set", pair.innerName, "up"]);
    },
    async remove() {
      if (isRemoved) return;
      isRemoved = true;
      const problems: string[] = [];
      // Deleting the namespace destroys the inner ends, and a veth pair goes with either end.
      await run("ip", ["netns", "del", name]).catch((error) => problems.push(error.message));
      for (const pair of pairs) {
        const left = await new Deno.Command("ip", {
          args: ["link", "show", pair.hostName],
          stdout: "null",
          stderr: "null",
        })
          .output();
        if (left.success) {
          // The kernel destroys the pair a moment after the namespace goes: a device gone meanwhile is what we want.
          await run("ip", ["link", "del", pair.hostName]).catch((error) => {
            if (!/Cannot find device/.test(error.message)) problems.push(error.message);
          });
        }
      }
      if (problems.length > 0) throw new Error(`Cannot remove network namespace ${name}: ${problems.join("; ")}`);
    },
  };
}
