import { defineCommand } from "../command.ts";
import { EXIT, KraalError, UsageError } from "../../base/errors.ts";
import { validateId } from "../../handle/id.ts";
import { startAgents } from "../../supervise/manage.ts";
import { renderError } from "../main.ts";
import { writeJson, writeOut } from "../output.ts";
import { globalArgs, jsonArg, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "start", description: "Start stopped or failed agents again: through kraal up for its agents, as they were spawned for the others" },
  args: {
    ids: { type: "positional", description: "Agent ids", required: false, valueHint: "ID..." },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const ids = args._.map(String);
    if (ids.length === 0) throw new UsageError("which agents? give their ids", "usage: kraal start ID...");
    for (const id of ids) validateId(id);
    const settled = await startAgents(layoutFrom(args), ids);
    process.exitCode = report(ids, settled, args.json);
  },
});

/** Prints one line (or one JSON object) per agent and returns the exit status: the worst failure's. */
export function report(ids: string[], settled: PromiseSettledResult<{ id: string; result: string; pgid?: number }>[], json?: boolean): number {
  let status: number = EXIT.ok;
  const out: unknown[] = [];
  settled.forEach((s, i) => {
    if (s.status === "fulfilled") {
      out.push(s.value);
      if (!json) writeOut(`${s.value.id} ${s.value.result}${s.value.pgid ? `, pgid ${s.value.pgid}` : ""}\n`);
    } else {
      status = Math.max(status, s.reason instanceof KraalError ? s.reason.exitCode : EXIT.failed);
      out.push({ id: ids[i], error: (s.reason as Error).message });
      renderError(s.reason);
    }
  });
  if (json) writeJson(out);
  return status;
}
