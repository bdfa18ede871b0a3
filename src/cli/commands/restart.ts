import { defineCommand } from "../command.ts";
import { UsageError } from "../../base/errors.ts";
import { validateId } from "../../handle/id.ts";
import { restartAgents } from "../../supervise/manage.ts";
import { globalArgs, jsonArg, layoutFrom, stopArgs, stopFlags } from "./_shared.ts";
import { report } from "./start.ts";

export default defineCommand({
  meta: { name: "restart", description: "Stop agents, then start them again: in their place under kraal up, with the same argv, cwd and env if spawned" },
  args: {
    ids: { type: "positional", description: "Agent ids", required: false, valueHint: "ID..." },
    ...stopArgs,
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const ids = args._.map(String);
    if (ids.length === 0) throw new UsageError("which agents? give their ids", "usage: kraal restart ID...");
    for (const id of ids) validateId(id);
    const settled = await restartAgents(layoutFrom(args), ids, stopFlags(args));
    process.exitCode = report(ids, settled, args.json);
  },
});
