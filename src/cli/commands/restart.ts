import { defineCommand } from "citty";
import { parseDuration } from "../../base/duration.ts";
import { UsageError } from "../../base/errors.ts";
import { parseStopSignal } from "../../base/exit-status.ts";
import { validateId } from "../../handle/id.ts";
import { DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { restartAgents } from "../../supervise/manage.ts";
import { globalArgs, jsonArg, layoutFrom } from "./_shared.ts";
import { report } from "./start.ts";

export default defineCommand({
  meta: { name: "restart", description: "Stop agents, then start them again: in their place under kraal up, with the same argv, cwd and env if spawned" },
  args: {
    ids: { type: "positional", description: "Agent ids", required: false, valueHint: "ID..." },
    grace: { type: "string", description: "How long to wait after the stop signal before SIGKILL", default: "300ms", valueHint: "DURATION" },
    signal: { type: "string", description: "The stop signal: TERM, INT, HUP, QUIT, USR1 or USR2", default: "TERM", valueHint: "NAME" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const ids = args._.map(String);
    if (ids.length === 0) throw new UsageError("which agents? give their ids", "usage: kraal restart ID...");
    for (const id of ids) validateId(id);
    const graceMs = args.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(args.grace, "--grace");
    const signal = parseStopSignal(args.signal ?? "TERM");
    if (!signal) throw new UsageError(`--signal ${JSON.stringify(args.signal)}: expected one of TERM, INT, HUP, QUIT, USR1, USR2`);
    const settled = await restartAgents(layoutFrom(args), ids, { graceMs, signal });
    process.exitCode = report(ids, settled, args.json);
  },
});
