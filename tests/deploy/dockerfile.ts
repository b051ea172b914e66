/**
 * Test support: reads the instructions of deploy/<component>/Dockerfile (the subset they use: FROM, ENV, WORKDIR,
 * COPY, RUN, USER, EXPOSE, and ENTRYPOINT / CMD in exec form).
 */

/** One instruction, its arguments as written (line continuations joined). */
export interface DockerInstruction {
  keyword: string;
  args: string;
}

/** What a Dockerfile says, in the terms the tests check. */
export interface Dockerfile {
  instructions: DockerInstruction[];
  from: string;
  env: Record<string, string>;
  user: string;
  exposedPorts: number[];
  /** ENTRYPOINT followed by CMD: the command the container runs. */
  command: string[];
}

/** Parses Dockerfile text. Throws SyntaxError for an ENTRYPOINT or CMD not in JSON exec form. */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: DockerInstruction[] = [];
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const match = /^(\w+)\s+(.*)$/.exec(trimmed);
    if (!match) throw new SyntaxError(`Cannot parse Dockerfile line: "${trimmed.slice(0, 80)}"`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
  }
  const last = (keyword: string) => instructions.findLast((i) => i.keyword === keyword)?.args;
  const env: Record<string, string> = {};
  for (const instruction of instructions.filter((i) => i.keyword === "ENV")) {
    for (const pair of instruction.args.split(/\s+/)) {
      const at = pair.indexOf("=");
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  const execForm = (keyword: string): string[] => {
    const args = last(keyword);
    if (args === undefined) return [];
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
      throw new SyntaxError(`Cannot read ${keyword}: not a JSON array of strings`);
    }
    return parsed;
  };
  return {
    instructions,
    from: last("FROM") ?? "",
    env,
    user: last("USER") ?? "",
    exposedPorts: instructions.filter((i) => i.keyword === "EXPOSE").flatMap((i) => i.args.split(/\s+/).map(Number)),
    command: [...execForm("ENTRYPOINT"), ...execForm("CMD")],
  };
}
