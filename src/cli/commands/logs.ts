import { closeSync } from "node:fs";
import { defineCommand } from "citty";
import { UnknownAgentError, UsageError } from "../../base/errors.ts";
import { encodeId } from "../../handle/id.ts";
import { followLog, logPath, printLog } from "../../lifecycle/logs.ts";
import { writeBytes } from "../output.ts";
import { checkedId, globalArgs, idArg, layoutFrom } from "./_shared.ts";
import { inspect } from "../../handle/inspect.ts";
import { hasRun } from "../../lifecycle/history.ts";

export default defineCommand({
  meta: { name: "logs", description: "Print an agent's stdout+stderr; -f follows while it runs" },
  args: {
    ...idArg,
    follow: { type: "boolean", alias: "f", description: "Keep printing new output until the agent ends" },
    lines: { type: "string", alias: "n", description: "Only the last N lines", valueHint: "N" },
    previous: { type: "boolean", description: "The previous run's log (one rotated generation is kept)" },
    ...globalArgs,
  },
  async run({ args }) {
    const id = checkedId(args.id);
    const l = layoutFrom(args);
    const name = encodeId(id);
    let lines: number | undefined;
    if (args.lines !== undefined) {
      if (!/^\d+$/.test(args.lines)) throw new UsageError(`-n ${JSON.stringify(args.lines)}: expected a number of lines`);
      lines = Number(args.lines);
    }
    const path = logPath(l, name, args.previous);
    // Streamed byte for byte through one 64 KiB buffer: constant memory, exact bytes.
    const at = printLog(path, writeBytes, lines);
    if (at === null) {
      const known = inspect(l, name).read.kind !== "missing" || hasRun(l.history, id);
      if (!known) throw new UnknownAgentError(id);
    }
    if (args.follow && !args.previous) await followLog(l, name, path, at, writeBytes);
    else if (at) closeSync(at.log.fd);
  },
});
