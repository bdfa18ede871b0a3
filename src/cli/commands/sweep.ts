import { defineCommand } from "../command.ts";
import { log, writeJson, writeOut } from "../output.ts";
import { sweep } from "../../lifecycle/sweep.ts";
import { globalArgs, jsonArg, layoutFrom } from "./_shared.ts";

export default defineCommand({
  meta: { name: "sweep", description: "Retire handles of dead groups to history and move corrupt entries to quarantine/ (never signals anything)" },
  args: {
    dryRun: { type: "boolean", description: "Only report what would be done" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    const r = await sweep(layoutFrom(args), { dryRun: args.dryRun, quarantine: true });
    if (r.unwritable) {
      // Writing is what `kraal sweep` is for: a state directory it cannot write is a failure.
      log().error(r.unwritable);
      process.exitCode = 1;
    }
    if (args.json) {
      writeJson({ retired: r.retired, ended: r.ended, corrupt: r.corrupt, strayCgroups: r.strayCgroups ?? [], kept: r.kept.map((e) => ({ id: e.id, state: e.verdict.state })) });
      return;
    }
    const would = args.dryRun ? "would retire" : "retired";
    for (const x of r.ended) {
      const why = x.leftovers ? "it had exited, leaving processes in its cgroup (cgroup.kill)" : "its wrapper was killed alone (SIGKILL to group " + x.pgid + ")";
      writeOut(`${args.dryRun ? "would end" : "ended"} ${x.id}: ${why}\n`);
    }
    for (const x of r.retired) writeOut(`${would} ${x.id} (${x.state}${x.reason ? `: ${x.reason}` : ""})\n`);
    for (const c of r.corrupt) {
      writeOut(c.quarantinedTo ? `quarantined ${c.name} (${c.reason}) -> ${c.quarantinedTo}\n` : `corrupt ${c.name} (${c.reason})${args.dryRun ? ", would quarantine" : ""}\n`);
    }
    for (const c of r.strayCgroups ?? []) {
      writeOut(c.populated ? `cgroup ${c.path} has processes but no handle: left alone (see them: cat ${c.path}/cgroup.procs)\n` : `${c.removed ? "removed" : "could not remove"} empty cgroup ${c.path} (no handle)\n`);
    }
    writeOut(`${r.retired.length} retired, ${r.corrupt.length} corrupt, ${r.kept.length} kept\n`);
  },
});
