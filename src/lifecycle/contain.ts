import { KraalError } from "../base/errors.ts";
import type { StopSignalName } from "../base/exit-status.ts";
import { agentCgroupName, type Containment, detectContainment, requireTier } from "../sys/cgroup.ts";
import { type CgroupProbe, type CgroupRef, cgroupTreeMembers, isSameCgroup, killCgroup, makeCgroup, probeCgroup, readEvents, removeCgroup, setFrozen } from "../sys/cgroup-ops.ts";
import { killResult, readStat } from "../handle/probes.ts";
import { loadLibc } from "../sys/libc.ts";
import type { TerminateOutcome, TerminateResult } from "./terminate.ts";
import { CONFIRM_MS } from "./terminate.ts";

/** How long a freeze may take before the TERM to members is given up (a member in D state delays it). */
const FREEZE_MS = 200;
const FIRST_POLL_MS = 1;
const FREEZE_FIRST_POLL_MS = 0.05;
const MAX_POLL_MS = 10;

let cached: Containment | undefined;
/** What this process may give its agents; looked at once per process (up spawns many). */
export function containment(): Containment {
  cached ??= detectContainment();
  return cached;
}

/**
 * Makes the cgroup for agent `id` of state directory `stateDir`, before its wrapper is spawned
 * into it. An empty one of the same name (a crash between making it and spawning) is removed and
 * made afresh, so the inode recorded is new; a populated one, which no handle owns (the caller
 * holds the state lock and found no live handle), is refused, never killed: E_CGROUP_BUSY.
 * Returns null in the group tier.
 */
export function prepareCgroup(stateDir: string, id: string, c: Containment = containment()): CgroupRef | null {
  if (requireTier(c) !== "cgroup" || !c.base) return null;
  const name = agentCgroupName(stateDir, id);
  try {
    return makeCgroup(c.base, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
      if (c.requested === "cgroup") throw e;
      return null; // the detected tier was wrong after all (a read-only remount, a race): the group tier
    }
  }
  const path = `${c.base}/${name}`;
  if (readEvents(path)?.populated) {
    throw new KraalError("E_CGROUP_BUSY", `cgroup ${path} of agent ${JSON.stringify(id)} still has processes, but no handle owns them; nothing was started or killed`, {
      hint: `see what runs there: cat ${path}/cgroup.procs; end them with: echo 1 > ${path}/cgroup.kill`,
      facts: { id, path },
    });
  }
  removeCgroup(path);
  return makeCgroup(c.base, name);
}

/** Members whose pid was read while the cgroup was frozen: a frozen process cannot exit, so no pid in the list can be reused before it is signaled. */
export function signalMembersFrozen(ref: CgroupRef, sig: StopSignalName | "SIGKILL", kill: (pid: number, sig: string) => unknown = process.kill): boolean {
  if (!setFrozen(ref.path, true)) return false;
  try {
    const deadline = performance.now() + FREEZE_MS;
    // Sleeping members are usually frozen by the time the write returns, or within ~0.1 ms:
    // polls start short (a synchronous sleep holds up everything else this process does).
    let wait = FREEZE_FIRST_POLL_MS;
    while (!readEvents(ref.path)?.frozen) {
      if (performance.now() > deadline || !isSameCgroup(ref)) return false;
      Bun.sleepSync(wait);
      wait = Math.min(wait * 2, FIRST_POLL_MS);
    }
    if (!isSameCgroup(ref)) return false;
    for (const pid of cgroupTreeMembers(ref.path)) killResult(() => kill(pid, sig));
    return true;
  } finally {
    setFrozen(ref.path, false);
  }
}

export interface CgroupTerminateDeps {
  /** Sends the stop signal to the agent's process group (the fallback when the cgroup cannot be frozen). */
  signalGroup(sig: StopSignalName): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  probe?(ref: CgroupRef): CgroupProbe;
}

async function pollUntilEmpty(ref: CgroupRef, deps: CgroupTerminateDeps, deadline: number): Promise<boolean> {
  const probe = deps.probe ?? probeCgroup;
  let wait = FIRST_POLL_MS;
  while (probe(ref) === "populated") {
    const left = deadline - deps.now();
    if (left <= 0) return false;
    await deps.sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, MAX_POLL_MS);
  }
  return true;
}

/**
 * The kill sequence of the cgroup tier: the stop signal to every member (those that left the
 * agent's process group get their chance to clean up too), sent while the cgroup is frozen so no
 * pid can be reused between reading cgroup.procs and signalling it; then the grace, polling
 * `populated`; then cgroup.kill (SIGKILL to every member at once) and `populated 0` within
 * `confirmMs`. The cgroup's inode is checked before each step: a cgroup removed and made again
 * under the same name is never signaled. Where freezing fails, the stop signal goes to the
 * agent's group instead and cgroup.kill still ends the rest after the grace.
 */
export async function terminateCgroup(ref: CgroupRef, opts: { graceMs: number; confirmMs?: number; signal?: StopSignalName }, deps: CgroupTerminateDeps): Promise<TerminateResult> {
  const start = deps.now();
  const probe = deps.probe ?? probeCgroup;
  const result = (outcome: TerminateOutcome, forced = false): TerminateResult => ({ outcome, elapsedMs: deps.now() - start, forced });
  if (probe(ref) !== "populated") return result("gone");
  const sig = opts.signal ?? "SIGTERM";
  if (opts.graceMs > 0) {
    if (!signalMembersFrozen(ref, sig, process.kill)) deps.signalGroup(sig);
    if (await pollUntilEmpty(ref, deps, start + opts.graceMs)) return result("exited");
  }
  if (!isSameCgroup(ref)) return result("exited");
  killCgroup(ref.path);
  const ended = await pollUntilEmpty(ref, deps, deps.now() + (opts.confirmMs ?? CONFIRM_MS));
  return result(ended ? "killed" : "stuck", true);
}

/**
 * Ends what is left in a cgroup proven ours (an agent that ended on its own, or whose wrapper was
 * killed alone): cgroup.kill, then a short wait for `populated 0` so the cgroup can be removed
 * with its handle. Synchronous, for the retire paths that hold the state lock. False when the
 * cgroup is not ours (recreated) or its members did not die within the wait.
 */
export function endCgroup(ref: CgroupRef, waitMs = CONFIRM_MS): boolean {
  if (probeCgroup(ref) !== "populated") return true;
  if (!killCgroup(ref.path)) return false;
  const deadline = performance.now() + waitMs;
  let wait = FIRST_POLL_MS;
  while (probeCgroup(ref) === "populated") {
    if (performance.now() > deadline) return false;
    Bun.sleepSync(wait);
    wait = Math.min(wait * 2, MAX_POLL_MS);
  }
  return true;
}

/** Removes a retired agent's cgroup when it is still the very one recorded and empty. */
export function dropCgroup(ref: CgroupRef | undefined): void {
  if (ref && isSameCgroup(ref) && !readEvents(ref.path)?.populated) removeCgroup(ref.path);
}

/** How many processes an agent's cgroup holds, and how many of them left its process group. */
export interface Census {
  members: number;
  escapees: number;
}

/**
 * Counts the members of a recorded cgroup (its cgroup.procs and those below it: targeted reads,
 * never a scan; zombies are not listed there) and those whose process group is not the agent's
 * `pgid`: the daemons it left behind (tmux, ssh-agent, setsid). A member's group comes from
 * getpgid(2), one system call, not a read of its /proc/<pid>/stat (ps calls this per agent). For
 * a cgroup the caller has just proven ours (its verdict): a count to show, never a reason to signal.
 * `leaf`: the caller knows the cgroup has no children (see sys/cgroup-ops.ts childlessChildren).
 */
export function census(ref: CgroupRef, pgid: number, opts: { leaf?: boolean; getpgid?: (pid: number) => number } = {}): Census {
  const getpgid = opts.getpgid ?? ((pid: number) => loadLibc().getpgid(pid));
  const c: Census = { members: 0, escapees: 0 };
  for (const pid of cgroupTreeMembers(ref.path, opts.leaf)) {
    const group = pid === pgid ? pgid : getpgid(pid);
    if (group < 0) continue; // gone since cgroup.procs was read
    c.members++;
    if (group !== pgid) c.escapees++;
  }
  return c;
}

/** What the processes of an agent's cgroup use (`ps --json`): one stat read each. */
export function cgroupUsage(ref: CgroupRef): { processes: number; cpuTicks: number; rssPages: number } {
  const u = { processes: 0, cpuTicks: 0, rssPages: 0 };
  for (const pid of cgroupTreeMembers(ref.path)) {
    const st = readStat(pid);
    if (!st || st.state === "Z") continue;
    u.processes++;
    u.cpuTicks += st.cpuTicks;
    u.rssPages += st.rssPages;
  }
  return u;
}
