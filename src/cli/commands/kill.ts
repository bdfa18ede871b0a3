import { defineCommand } from "../command.ts";
import { KraalError, EXIT, UsageError } from "../../base/errors.ts";
import { validateId } from "../../handle/id.ts";
import { log, writeJson, writeOut } from "../output.ts";
import type { StopReport } from "../../lifecycle/stop.ts";
import { stopAgents } from "../../supervise/manage.ts";
import { stopSupervisor } from "../../supervise/up.ts";
import { sweep } from "../../lifecycle/sweep.ts";
import { CONFIRM_MS, DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { renderError } from "../main.ts";
import { globalArgs, jsonArg, layoutFrom, stopArgs, stopFlags } from "./_shared.ts";

function describe(r: StopReport): string {
  switch (r.result) {
    case "stopped":
      return r.was ? `${r.id} stopped (it was ${r.was}: no process to signal)` : `${r.id} stopped (${r.signal}, ${r.elapsedMs}ms)`;
    case "killed":
      return r.wrapperKilled ? `${r.id} killed (its wrapper had been killed alone; SIGKILL to its group)` : `${r.id} killed (SIGKILL after ${r.elapsedMs}ms)`;
    default:
      return `${r.id} ${r.result}`;
  }
}

export default defineCommand({
  meta: { name: "kill", description: "Stop agents: the stop signal (SIGTERM) to the group, wait up to the grace, SIGKILL, confirm it is gone, then retire the handle" },
  args: {
    ids: { type: "positional", description: "Agent ids", required: false, valueHint: "ID..." },
    all: { type: "boolean", description: "Stop every agent this state directory owns" },
    ...stopArgs,
    force: { type: "boolean", description: "Also signal legacy (unverified) handles, whose identity cannot be proven" },
    rmWorktree: { type: "boolean", description: "Then remove each agent's git worktree, if nothing would be lost (as kraal worktree rm)" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const flags = stopFlags(args);
    const l = layoutFrom(args);
    let ids = args._.map(String);
    if (args.all) {
      if (ids.length) throw new UsageError("give agent ids or --all, not both");
      // A running up goes first, as `kraal down` would stop it: otherwise it would restart what we stop.
      const down = await stopSupervisor(l, (flags.graceMs ?? DEFAULT_GRACE_MS) + CONFIRM_MS + 30_000, "kraal kill --all");
      if (down.result === "stopped" && !args.json) writeOut(`stopped kraal up (pid ${down.pid}) and its agents\n`);
      // Everything the sweep kept that is ours to stop: never foreign handles, legacy ones only with --force.
      const { kept } = await sweep(l, { busyOk: true }); // a lock held elsewhere stops no kill: each retires (or notes) its own
      // Nor the group this kraal runs in (an agent running `kraal kill --all`): skipped, with a note.
      for (const e of kept.filter((e) => e.verdict.self)) log().warn(`skipped ${e.id}: it is kraal's own process group (this kraal runs inside that agent)`);
      ids = kept.filter((e) => !e.verdict.self && e.verdict.state !== "foreign" && (args.force || e.verdict.state !== "unverified")).map((e) => e.id!);
    } else if (ids.length === 0) {
      throw new UsageError("which agents? give ids or --all", "usage: kraal kill ID... [--grace 300ms]");
    }
    for (const id of ids) validateId(id);
    const settled = await stopAgents(l, ids, { ...flags, force: args.force });
    let status: number = EXIT.ok;
    const reports: (StopReport | { id: string; error: string })[] = [];
    for (const [i, s] of settled.entries()) {
      if (s.status === "fulfilled") {
        reports.push(s.value);
        if (!args.json) writeOut(`${describe(s.value)}\n`);
        if (s.value.unrecorded) log().warn(`${s.value.id}: its end is not recorded yet: ${s.value.unrecorded}`);
        if (args.rmWorktree) {
          const { removeAgentWorktree } = await import("../../supervise/worktrees.ts");
          try {
            const w = await removeAgentWorktree(l, s.value.id, { graceMs: flags.graceMs ?? DEFAULT_GRACE_MS, signal: flags.signal });
            Object.assign(s.value, { worktree: w });
            if (!args.json) writeOut((await import("./worktree.ts")).describeRemoval(w));
          } catch (e) {
            status = Math.max(status, e instanceof KraalError ? e.exitCode : EXIT.failed);
            Object.assign(s.value, { worktreeError: (e as Error).message });
            renderError(e);
          }
        }
      } else {
        const code = s.reason instanceof KraalError ? s.reason.exitCode : EXIT.failed;
        status = Math.max(status, code);
        reports.push({ id: ids[i]!, error: (s.reason as Error).message });
        renderError(s.reason);
      }
    }
    if (args.json) writeJson(reports);
    process.exitCode = status;
  },
});
