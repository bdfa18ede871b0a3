import { defineCommand } from "../command.ts";
import { detectContainment } from "../../sys/cgroup.ts";
import { pidfdSupport } from "../../sys/pidfd.ts";
import { writeJson, writeOut } from "../output.ts";
import { jsonArg } from "./_shared.ts";

/** What each tier guarantees, in one line each (the README's tiers section says more). */
const GUARANTEE = {
  cgroup: "every process an agent starts stays in its cgroup, setsid() or not: kill ends them all (cgroup.kill)",
  group: "an agent's process group is ended; a process that leaves it (setsid, tmux, ssh-agent, daemons) survives kill",
};

export default defineCommand({
  meta: { name: "doctor", description: "Explain which containment tier agents get here (cgroup or group), what each check found, and the fix for each that failed" },
  args: { ...jsonArg },
  run({ args }) {
    const c = detectContainment();
    const pidfd = pidfdSupport();
    if (args.json) {
      writeJson({ ...c, pidfd });
      return;
    }
    const why = c.requested === "group" ? " (KRAAL_TIER=group)" : "";
    writeOut(`tier: ${c.tier}${why}${c.base ? `, agent cgroups in ${c.base}` : ""}\n  ${GUARANTEE[c.tier]}\n\n`);
    for (const k of c.checks) {
      writeOut(`${k.ok ? "ok  " : "FAIL"} ${k.what}: ${k.detail}\n`);
      if (!k.ok && k.fix) writeOut(`     fix: ${k.fix}\n`);
    }
    for (const k of pidfdChecks(pidfd)) {
      writeOut(`${k.ok ? "ok  " : "FAIL"} ${k.what}: ${k.detail}\n`);
      if (!k.ok) writeOut(`     fix: ${k.fix}\n`);
    }
    if (c.requested === "cgroup" && c.tier !== "cgroup") {
      writeOut("\nKRAAL_TIER=cgroup is set, so spawn and run refuse to start agents until the failed check is fixed.\n");
      process.exitCode = 1;
    }
  },
});

/** The pidfd lines: signals that cannot reach a process that reused the number (both tiers). */
function pidfdChecks(p: ReturnType<typeof pidfdSupport>) {
  const fallback = "until then kraal checks the leader's start time just before kill(2), which leaves a window of microseconds for pid reuse";
  return [
    {
      what: "pidfd_open",
      ok: p.open,
      detail: p.open ? "kill opens a pidfd for the agent's leader, checks its start time, and signals and waits through it" : (p.reason ?? "unavailable"),
      fix: `Linux 5.3+ and glibc 2.36+; ${fallback}`,
    },
    {
      what: "PIDFD_SIGNAL_PROCESS_GROUP",
      ok: p.groupSignal,
      detail: p.groupSignal ? "the group signal goes through the leader's pidfd, so it reaches that group even after the leader exits" : (p.reason ?? "unavailable"),
      fix: `Linux 6.9+; ${fallback}`,
    },
  ];
}
