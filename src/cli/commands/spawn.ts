import { defineCommand } from "../command.ts";
import { UsageError } from "../../base/errors.ts";
import { writeJson, writeOut } from "../output.ts";
import { rowOfEntry } from "../rows.ts";
import { agentEnv, spawnAgent } from "../../lifecycle/spawner.ts";
import { resolve } from "node:path";
import { parseSize } from "../../base/size.ts";
import { MIN_LOG_MAX } from "../../lifecycle/log-files.ts";
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
    worktree: { type: "string", optionalValue: true, description: "Run it in a new git worktree of the repository at --cwd (default dir: <state>/worktrees/<id>)", valueHint: "[DIR]" } as { type: "string"; description: string; valueHint: string },
    branch: { type: "string", description: "With --worktree: the new branch (default: kraal/<id>)", valueHint: "NAME" },
    from: { type: "string", description: "With --worktree: the commit it starts from (default: HEAD)", valueHint: "REF" },
    "log-max": { type: "string", description: "Bound its log: at most SIZE across the live file and 3 rotated ones (default 64M; 0 or off: unbounded)", valueHint: "SIZE" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args, rawArgs }) {
    const id = checkedId(args.id);
    const argv = commandArgv();
    if (!argv || argv.length === 0) throw new UsageError("no command given", `usage: kraal spawn ${id} -- CMD [ARGS...]`);
    if (args._.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args._[1])} before --`, `usage: kraal spawn ${id} -- CMD [ARGS...]`);
    const logMax = args["log-max"] === undefined ? undefined : parseSize(args["log-max"], "--log-max");
    if (logMax !== undefined && logMax > 0 && logMax < MIN_LOG_MAX) throw new UsageError(`--log-max ${args["log-max"]}: at least ${MIN_LOG_MAX / 1024}K (or 0 / off for no limit)`);
    const l = layoutFrom(args);
    const cwd = resolve(args.cwd ?? process.cwd());
    const env = agentEnv(process.env, { KRAAL_AGENT_ID: id, ...parseEnvPairs(repeatedFlag(rawArgs, "env")) });
    // `--worktree` alone arrives as `--worktree=` (see bindOptionalValues); its value is the dir, if any.
    const wt = rawArgs.findLast((a) => a.startsWith("--worktree="))?.slice("--worktree=".length);
    if (wt === undefined && (args.branch !== undefined || args.from !== undefined)) throw new UsageError(`--${args.branch !== undefined ? "branch" : "from"} goes with --worktree`, `usage: kraal spawn ${id} --worktree [DIR] [--branch NAME] [--from REF] -- CMD`);
    const { handle } =
      wt === undefined
        ? await spawnAgent(l, { id, argv, cwd, saveSpec: true, env, logMax })
        : await (await import("../../lifecycle/spawn-worktree.ts")).spawnInWorktree(l, { id, argv, saveSpec: true, env, logMax }, { cwd, dir: wt || undefined, branch: args.branch, from: args.from });
    if (args.json) {
      const { inspect } = await import("../../handle/inspect.ts");
      const { encodeId } = await import("../../handle/id.ts");
      writeJson(rowOfEntry(inspect(l, encodeId(id))));
    } else {
      writeOut(`${id} started, pgid ${handle.pgid}${handle.worktree ? `, in worktree ${handle.worktree.path} on branch ${handle.worktree.branch}` : ""}\n`);
    }
  },
});
