import type { ExitRecord } from "./exit-record.ts";
import type { Handle, HandleRead } from "./handle.ts";
import type { GroupProbe, Identity, ProcStat } from "./probes.ts";
import type { CgroupProbe, CgroupRef } from "../sys/cgroup-ops.ts";
import { tierOf } from "./handle.ts";

/** The states of a handle in pids/. */
export type HandleState = "running" | "exited" | "stale" | "foreign" | "unverified" | "corrupt";
/** The states `ps --json` reports (a stable interface, documented in README.md): a handle's, or one `up` reports for an agent between runs. */
export type AgentState = HandleState | "starting" | "waiting" | "backoff" | "stopped" | "failed";

/** What a look at one handle concluded, and whether anything of it may be signaled. */
export interface Verdict {
  state: HandleState;
  /** Why, in a few words, for people ("pid reused", "other host", "is a symlink", ...). */
  reason: string;
  /** The group still has members kraal has proved are its own: signals are allowed. */
  ours: boolean;
  handle?: Handle;
  /** The bare pgid of a legacy (seed project format) handle. */
  legacyPgid?: number;
  exit?: ExitRecord;
  /**
   * A detached agent whose wrapper died without writing its exit record (killed alone, by a
   * person or the OOM killer): its agent may still run with nobody to record its end. While the
   * wrapper's zombie or any member pins the pgid the group is provably ours, so it is to be
   * ended with SIGKILL and recorded as "wrapper killed".
   */
  orphaned?: true;
  /** The group is the one the inspecting kraal itself runs in: never signaled, never a failure. */
  self?: true;
  /**
   * Cgroup tier: the agent and its wrapper have ended, but processes remain in its cgroup (the
   * very one recorded: same inode), so they are provably its leftovers, to be ended.
   */
  leftovers?: true;
}

/** What classify needs from the machine; real implementations in probes.ts and exit-record.ts. */
export interface VerdictProbes {
  identity: Identity;
  readStat(pid: number): ProcStat | null;
  probeGroup(pgid: number): GroupProbe;
  /** The exit record of agent `id` (a handle's id), if its group `pgid` has one. */
  readExit(pgid: number, id: string): ExitRecord | null;
  /** The inspecting process's own group (kraal run inside an agent); never probed or signaled. */
  ownPgid?: number;
  /** Is the recorded cgroup (cgroup tier) still ours, and populated? */
  probeCgroup?(ref: CgroupRef): CgroupProbe;
}

/** What classify saw of the leader on its way: its /proc/<pid>/stat (null: gone), when it read it. */
export interface LeaderSeen {
  leaderStat?: ProcStat | null;
}

/** Why a handle on the caller's own group is shown but never signaled. */
export const SELF_REASON = "kraal's own process group";
/** The reason recorded for an agent ended because its wrapper had died. */
export const WRAPPER_KILLED = "wrapper killed";
/** Handles whose wrapper always records the agent's end before dying (attached wrappers leave that to their supervisor). */
const RECORDS_ITS_END = (h: Handle) => h.mode === "spawn";

export type Leader = "alive" | "zombie" | "gone" | "reused";

/**
 * The command name (comm) a wrapper gives itself right after it wrote its agent's exit record:
 * only a process itself can set its own comm, so an agent cannot fake it, and a reader that
 * sees another name knows there is no record yet. (A wrapper that cannot rename itself, without
 * /proc, is seen as running until it exits: at most its grace.)
 */
export const ENDED_COMM = "kraal-ended";

/**
 * Is the group's leader still the process kraal started? Compares the start time recorded at
 * spawn with field 22 now: a different start time means the pid was recycled. A zombie counts
 * as ended: orphans here are reaped late or never, and the wrapper leads the group only while
 * its agent runs.
 */
export function leaderOf(h: Pick<Handle, "pgid" | "leaderStart">, readStat: VerdictProbes["readStat"]): Leader {
  return leaderFrom(h, readStat(h.pgid));
}

/** leaderOf, given the leader's stat (null when it is gone). */
export function leaderFrom(h: Pick<Handle, "pgid" | "leaderStart">, st: ProcStat | null): Leader {
  if (!st) return "gone";
  if (st.startTicks !== h.leaderStart || st.pgrp !== h.pgid) return "reused";
  return st.state === "Z" ? "zombie" : "alive";
}

/**
 * Liveness of a legacy (bare pgid) group, which has no recorded identity: a live, non-zombie
 * leader still leading the group, or a leaderless group whose members hold the number.
 */
export function legacyAlive(pgid: number, p: Pick<VerdictProbes, "readStat" | "probeGroup">): boolean {
  const st = p.readStat(pgid);
  if (st) return st.state !== "Z" && st.pgrp === pgid;
  return p.probeGroup(pgid) === "alive";
}

/**
 * Classifies one entry of pids/. A handle is ours only when its file is owned by us, its boot id
 * and host match this machine, and either its leader is the very process recorded (same start
 * time) or the leader is gone while members still hold the pgid (a pgid cannot be reused while
 * any member holds it). Everything else is never signaled. A group no signal of ours can reach
 * (EPERM) is foreign; the caller's own group is shown (`self`) but never signaled; a detached
 * agent whose wrapper died without an exit record is `orphaned`, to be ended.
 */
export function classify(read: HandleRead, p: VerdictProbes, seen?: LeaderSeen): Verdict {
  if (read.kind === "missing") return { state: "corrupt", reason: "vanished while being read", ours: false };
  if (read.kind === "corrupt") return { state: "corrupt", reason: read.reason, ours: false };
  if (read.file.uid !== p.identity.uid) {
    return { state: "foreign", reason: `file owned by uid ${read.file.uid}`, ours: false };
  }
  if (read.kind === "legacy") {
    if (read.pgid === p.ownPgid) return { state: "unverified", reason: SELF_REASON, ours: false, legacyPgid: read.pgid, self: true };
    if (p.probeGroup(read.pgid) === "eperm") return { state: "foreign", reason: "group belongs to another user (EPERM)", ours: false, legacyPgid: read.pgid };
    return legacyAlive(read.pgid, p)
      ? { state: "unverified", reason: "legacy handle without identity", ours: false, legacyPgid: read.pgid }
      : { state: "exited", reason: "legacy handle, group gone", ours: false, legacyPgid: read.pgid };
  }
  const h = read.handle;
  if (h.host !== p.identity.host) return { state: "foreign", reason: `other host ${h.host}`, ours: false, handle: h };
  if (h.uid !== p.identity.uid) return { state: "foreign", reason: `other user ${h.uid}`, ours: false, handle: h };
  if (h.bootId !== p.identity.bootId) return { state: "stale", reason: "other boot", ours: false, handle: h };
  const st = p.readStat(h.pgid);
  if (seen) seen.leaderStat = st;
  const leader = leaderFrom(h, st);
  if (leader === "reused") return { state: "stale", reason: "pid reused", ours: false, handle: h };
  // We are a member, so the group exists; kill(2) on it would hit this very process.
  if (h.pgid === p.ownPgid) return { state: "running", reason: SELF_REASON, ours: false, handle: h, self: true };
  // A live wrapper renames itself once it has recorded its agent's end (see wrapper.ts): until
  // then there is no record to read, so a running agent costs no read of exits/ at all.
  // A handle without endedComm is an older kraal's, whose wrapper never renames itself: read always.
  const exit = leader !== "alive" || h.endedComm === undefined || st!.comm === h.endedComm ? (p.readExit(h.pgid, h.id) ?? undefined) : undefined;
  if (tierOf(h) === "cgroup" && p.probeCgroup) return classifyCgroup(h, leader, exit, p.probeCgroup);
  // kill(-pgid, 0) fails with EPERM only when no member is ours to signal: shown as foreign, never "ours".
  const group = p.probeGroup(h.pgid);
  if (group === "eperm") return { state: "foreign", reason: "group belongs to another user (EPERM)", ours: false, handle: h };
  if (leader !== "alive" && group === "alive" && !exit && RECORDS_ITS_END(h)) {
    return { state: "running", reason: WRAPPER_KILLED, ours: true, handle: h, orphaned: true };
  }
  if (leader === "alive") {
    // The wrapper outlives its agent only while it clears the rest of the group.
    return exit
      ? { state: "exited", reason: "cleaning up its group", ours: true, handle: h, exit }
      : { state: "running", reason: "", ours: true, handle: h };
  }
  if (leader === "gone" && group === "alive" && !exit) return { state: "running", reason: "leader gone, group alive", ours: true, handle: h };
  return { state: "exited", reason: exit ? "exit record" : `leader ${leader}`, ours: false, handle: h, exit };
}

/**
 * The cgroup tier: the cgroup's `populated` (zombies do not count) is the liveness of everything
 * the agent started, wherever in the process tree or in which session it is. While the wrapper
 * runs, the agent runs; once it is gone, members left in the recorded cgroup are ours to end.
 */
function classifyCgroup(h: Handle, leader: Leader, exit: ExitRecord | undefined, probe: (ref: CgroupRef) => CgroupProbe): Verdict {
  if (leader === "alive") {
    return exit
      ? { state: "exited", reason: "cleaning up its cgroup", ours: true, handle: h, exit }
      : { state: "running", reason: "", ours: true, handle: h };
  }
  if (probe(h.cgroup!) === "populated") {
    if (exit) return { state: "exited", reason: "leftovers in its cgroup", ours: true, handle: h, exit, leftovers: true };
    if (RECORDS_ITS_END(h)) return { state: "running", reason: WRAPPER_KILLED, ours: true, handle: h, orphaned: true };
    return { state: "running", reason: "leader gone, cgroup populated", ours: true, handle: h };
  }
  return { state: "exited", reason: exit ? "exit record" : `leader ${leader}`, ours: false, handle: h, exit };
}

/** Agents that count as alive for `status`, `spawn` (refuse a duplicate) and `kill`. */
export function isLive(v: Verdict): boolean {
  return v.state === "running" || v.state === "unverified" || v.state === "foreign";
}
