import { defineCommand } from "citty";
import { UsageError } from "../../base/errors.ts";
import { writeJson, writeOut } from "../output.ts";
import { rowOfEntry } from "../rows.ts";
import { agentEnv, spawnAgent } from "../../lifecycle/spawner.ts";
import { resolve } from "node:path";
import { checkedId, commandArgv, repeatedFlag, globalArgs, idArg, jsonArg, layoutFrom } from "./_shared.ts";

/** `--env K=V` values, each checked. */
export function parseEnvPairs(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(kv.slice(0, eq))) {
      throw new UsageError(`--env ${JSON.stringify(kv)}: expected NAME=VALUE`);
    }
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export default defineCommand({
  meta: { name: "spawn", description: "Start CMD detached, as an owned agent in its own process group; its output goes to its log" },
  args: {
    ...idArg,
    cwd: { type: "string", description: "Working directory for the agent (default: the current one)", valueHint: "DIR" },
    env: { type: "string", description: "Set an environment variable for the agent (repeatable)", valueHint: "K=V" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const id = checkedId(args.id);
    const argv = commandArgv();
    if (!argv || argv.length === 0) throw new UsageError("no command given", `usage: kraal spawn ${id} -- CMD [ARGS...]`);
    if (args._.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args._[1])} before --`, `usage: kraal spawn ${id} -- CMD [ARGS...]`);
    const l = layoutFrom(args);
    const cwd = resolve(args.cwd ?? process.cwd());
    const { handle } = await spawnAgent(l, { id, argv, cwd, saveSpec: true, env: agentEnv(process.env, { KRAAL_AGENT_ID: id, ...parseEnvPairs(repeatedFlag(rawArgs, "env")) }) });
    if (args.json) {
      const { inspect } = await import("../../handle/inspect.ts");
      const { encodeId } = await import("../../handle/id.ts");
      writeJson(rowOfEntry(inspect(l, encodeId(id))));
    } else {
      writeOut(`${id} started, pgid ${handle.pgid}\n`);
    }
  },
});
