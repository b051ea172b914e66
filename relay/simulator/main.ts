/**
 * `deno run -A relay/simulator/main.ts [--port=<n>] [--kubeconfig=<path>]`: a simulated Kubernetes API with a
 * realistic ongoing scenario, for development without a cluster. Prints its URL, writes a kubeconfig for it
 * (default `.data/simulator.kubeconfig`) and runs until SIGINT or SIGTERM.
 */
import { dirname } from "node:path";
import { startSimulator } from "./simulator.ts";
import { runOngoingScenario } from "./scenarios/ongoing_scenario.ts";

/** Reads the command line: `--port=<n>` (default 0, a free port) and `--kubeconfig=<path>`. */
export function parseSimulatorArgs(args: string[]): { port: number; kubeconfigPath: string } {
  let port = 0;
  let kubeconfigPath = ".data/simulator.kubeconfig";
  const problems: string[] = [];
  for (const arg of args) {
    const [flag, value = ""] = arg.split(/=(.*)/s);
    if (flag === "--port" && /^\d{1,5}$/.test(value) && Number(value) <= 65535) port = Number(value);
    else if (flag === "--kubeconfig" && value !== "") kubeconfigPath = value;
    else problems.push(`"${arg}" is not --port=<0-65535> or --kubeconfig=<path>`);
  }
  if (problems.length > 0) throw new TypeError(`Cannot read the arguments: ${problems.join("; ")}`);
  return { port, kubeconfigPath };
}

async function main(args: string[]): Promise<void> {
  const { port, kubeconfigPath } = parseSimulatorArgs(args);
  const simulator = await startSimulator({ port });
  await Deno.mkdir(dirname(kubeconfigPath), { recursive: true });
  await Deno.writeTextFile(kubeconfigPath, simulator.kubeconfig());
  console.log(JSON.stringify({ msg: "simulator listening", url: simulator.url, kubeconfig: kubeconfigPath }));
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const target = {
    now: Date.now,
    signal: controller.signal,
    createEvent: simulator.createEvent,
    updateEvent: simulator.updateEvent,
    putObject: simulator.putObject,
    getObject: () => undefined,
  };
  await runOngoingScenario(target);
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  await simulator.close();
  console.log(JSON.stringify({ msg: "simulator stopped", events: simulator.emittedVersions().length }));
}

if (import.meta.main) await main(Deno.args);
