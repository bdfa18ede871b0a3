import { defineCommand } from "../command.ts";
import { printable } from "../../base/printable.ts";
import { EXIT, fsError, KraalError } from "../../base/errors.ts";
import { lastRun } from "../../lifecycle/history.ts";
import { encodeId } from "../../handle/id.ts";
import { inspect } from "../../handle/inspect.ts";
import { writeJson, writeOut } from "../output.ts";
import { type AgentRow, rowOfEntry, rowOfHistory, withDetails, withSupervisor } from "../rows.ts";
import { readSupervisor } from "../../supervise/supervisor.ts";
import { sweep } from "../../lifecycle/sweep.ts";
import { outputWidth, renderTable } from "./ps.ts";
import type { Layout } from "../../handle/state.ts";
import { checkedId, globalArgs, idArg, jsonArg, layoutFrom, warnBusy, warnUnwritable } from "./_shared.ts";

/** LSB-style: 0 running, 3 not running, 4 unknown (no such agent, or a handle we cannot read). */
export function statusExit(row: AgentRow | null): number {
  if (!row) return EXIT.unknown;
  if (row.state === "running" || row.state === "starting" || row.state === "unverified") return EXIT.ok;
  if (row.state === "exited" || row.state === "stale" || row.state === "backoff" || row.state === "failed" || row.state === "waiting" || row.state === "stopped") return EXIT.notRunning;
  return EXIT.unknown;
}

/** One agent's row (after the sweep): its handle's, up's view of it, or its last run in history; null if unknown. */
export async function statusRow(l: Layout, id: string): Promise<AgentRow | null> {
  const swept = await sweep(l, { busyOk: true });
  if (swept.unwritable) warnUnwritable(swept.unwritable);
  if (swept.busy) warnBusy(swept.busy);
  const e = inspect(l, encodeId(id));
  const row = withSupervisor(e.read.kind === "missing" ? [] : [rowOfEntry(e)], readSupervisor(l)).find((r) => r.id === id);
  if (row) return row;
  const past = lastRun(l.history, id);
  return past ? rowOfHistory(past) : null;
}

export default defineCommand({
  meta: { name: "status", description: "Show one agent; exit 0 if running, 3 if not running, 4 if unknown" },
  args: { ...idArg, ...jsonArg, ...globalArgs },
  async run({ args }) {
    const id = checkedId(args.id);
    let row: AgentRow | null;
    let l: Layout;
    try {
      l = layoutFrom(args);
      row = await statusRow(l, id);
    } catch (e) {
      // Scripts branch on 0/3/4: a state directory that cannot be read or trusted means "unknown", never 1.
      const k = e instanceof KraalError ? e : fsError(e);
      if (!k) throw e;
      throw new KraalError(k.code, k.message, { exitCode: EXIT.unknown, hint: k.hint, facts: k.facts });
    }
    if (args.json) writeJson(row && row.state !== "corrupt" ? withDetails(row, l) : row);
    else if (row) writeOut(renderTable([row], Date.now(), false, outputWidth()));
    else writeOut(`${printable(id)}: unknown\n`);
    process.exitCode = statusExit(row);
  },
});
