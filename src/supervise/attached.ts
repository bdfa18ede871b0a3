import { closeSync } from "node:fs";
import { join } from "node:path";
import { readExitRecord } from "../handle/exit-record.ts";
import { type ExitStatus, fromShellStatus, type StopSignalName } from "../base/exit-status.ts";
import { historyEntry } from "../lifecycle/history.ts";
import { encodeId } from "../handle/id.ts";
import { inspect } from "../handle/inspect.ts";
import { reapGroup } from "../sys/libc.ts";
import { acquireLock } from "../handle/lock.ts";
import { probeGroup } from "../handle/probes.ts";
import { retire } from "../lifecycle/retire.ts";
import type { Started } from "../lifecycle/spawner.ts";
import type { Layout } from "../handle/state.ts";
import { leaderSignal, realSignal, type TerminateResult, terminateGroup } from "../lifecycle/terminate.ts";
import { openPidfd, type Pidfd } from "../sys/pidfd.ts";
import { signalMembersFrozen, terminateCgroup } from "../lifecycle/contain.ts";
import { type CgroupRef, killCgroup, probeCgroup } from "../sys/cgroup-ops.ts";

export type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** How an attached agent ended, and whether it left processes behind in its group. */
export interface AttachedEnd {
  status: ExitStatus;
  /** Processes were still in the group after the agent exited on its own; they were ended. */
  leaked: boolean;
  /** The outcome of ending them (or of a stop), when there was something to end. */
  leftovers: TerminateResult | null;
  /** The group could not be confirmed gone: the handle was kept. */
  stuck: boolean;
}

/**
 * An agent attached to this kraal process (run, up): its wrapper is our child, we are a
 * subreaper for its orphans, and the wrapper's parent-death pipe ends the group if we die.
 * Every signal goes to the group only while it is provably ours: while our wrapper child is
 * unreaped (alive or zombie, it holds the number), or while members of the group remain after
 * we reaped everything of ours in it (the number cannot be reused while they hold it).
 */
export class Attached {
  readonly id: string;
  readonly pgid: number;
  private readonly l: Layout;
  private readonly started: Started;
  readonly graceMs: number;
  private exited = false;
  private stopping: StopSignalName | "timeout" | null = null;
  private escalation: ReturnType<typeof setTimeout> | null = null;
  readonly done: Promise<AttachedEnd>;

  /** What `stop()` sends when not told otherwise (an agent's `stop_signal`). */
  private readonly stopSignal: StopSignalName;
  /** Its cgroup, in the cgroup tier: every process it started, in its group or not. */
  private readonly cgroup: CgroupRef | null;
  /** A pidfd for the wrapper, opened while it is our unreaped child: group signals go through it, race-free. */
  private leader: Pidfd | null;

  constructor(l: Layout, started: Started, graceMs: number, stopSignal: StopSignalName = "SIGTERM") {
    this.l = l;
    this.started = started;
    this.graceMs = graceMs;
    this.stopSignal = stopSignal;
    this.id = started.handle.id;
    this.pgid = started.handle.pgid;
    this.cgroup = started.handle.tier === "cgroup" ? (started.handle.cgroup ?? null) : null;
    this.leader = openPidfd(started.proc.pid);
    this.done = this.finish();
  }

  get stopRequested(): StopSignalName | "timeout" | null {
    return this.stopping;
  }

  /** True while any member of the group may exist. */
  private groupHeld(): boolean {
    if (!this.exited) return true;
    reapGroup(this.pgid);
    return probeGroup(this.pgid) === "alive";
  }

  /** True while anything it started may still run: its group, and in the cgroup tier its populated cgroup. */
  private held(): boolean {
    const group = this.groupHeld();
    return this.cgroup ? group || probeCgroup(this.cgroup) === "populated" : group;
  }

  private send(sig: StopSignalName | "SIGKILL"): void {
    // Cgroup tier: to every member, those that left the group too (frozen while signalled).
    if (this.cgroup) {
      if (sig === "SIGKILL" && probeCgroup(this.cgroup) === "populated") killCgroup(this.cgroup.path);
      else if (probeCgroup(this.cgroup) === "populated" && signalMembersFrozen(this.cgroup, sig)) return;
    }
    if (this.groupHeld()) {
      try {
        (this.leader ? leaderSignal(this.leader) : realSignal)(this.pgid, sig);
      } catch {}
    }
  }

  /**
   * Stops the agent: `sig` (default: its stop signal) to the whole group, then SIGKILL after the
   * grace unless it ended. A second call with SIGINT (a second Ctrl-C) skips the rest of the grace.
   */
  stop(sig: StopSignalName | "timeout" = this.stopSignal, graceMs = this.graceMs): void {
    if (this.stopping) {
      if (sig === "SIGINT") this.killNow();
      return;
    }
    this.stopping = sig;
    this.send(sig === "timeout" ? this.stopSignal : sig);
    this.escalation = setTimeout(() => this.killNow(), graceMs);
  }

  killNow(): void {
    this.send("SIGKILL");
  }

  private async finish(): Promise<AttachedEnd> {
    const proc = this.started.proc;
    const code = await proc.exited;
    this.exited = true;
    if (this.escalation) clearTimeout(this.escalation);
    if (this.started.deathFd !== null) {
      try {
        closeSync(this.started.deathFd);
      } catch {}
    }
    // The wrapper's own status is the agent's, unless it had to KILL itself after a stop:
    // then the exit record it wrote first holds the agent's.
    const record = readExitRecord(join(this.l.exits, encodeId(this.id)), this.pgid);
    const status: ExitStatus = proc.signalCode ? (record ?? { exitCode: null, signal: String(proc.signalCode) }) : fromShellStatus(code);
    let leftovers: TerminateResult | null = null;
    const leaked = this.held() && !this.stopping;
    if (this.cgroup && probeCgroup(this.cgroup) === "populated") {
      leftovers = await terminateCgroup(this.cgroup, { graceMs: this.stopping ? 0 : this.graceMs }, {
        signalGroup: (sig) => this.send(sig),
        now: () => performance.now(),
        sleep: (ms) => Bun.sleep(ms),
      });
      reapGroup(this.pgid);
    } else if (this.groupHeld()) {
      leftovers = await terminateGroup(this.pgid, { graceMs: this.stopping ? 0 : this.graceMs }, {
        check: () => (this.groupHeld() ? "alive" : "ended"),
        signal: this.leader ? leaderSignal(this.leader) : realSignal,
        now: () => performance.now(),
        sleep: (ms) => Bun.sleep(ms),
      });
    }
    this.leader?.close();
    this.leader = null;
    const stuck = leftovers?.outcome === "stuck";
    if (!stuck) await this.retire(status);
    return { status, leaked, leftovers, stuck };
  }

  /** Moves the handle to history with the status we observed directly. */
  private async retire(status: ExitStatus): Promise<void> {
    const lock = await acquireLock(this.l.lock);
    try {
      const e = inspect(this.l, encodeId(this.id));
      if (e.read.kind !== "handle" || e.read.handle.pgid !== this.pgid) return;
      const h = e.read.handle;
      retire(this.l, [{ entry: e, history: historyEntry(h, { ...status, endedAt: Date.now(), state: "exited", reason: this.stopping ? "stopped" : "exited", forced: status.signal === "SIGKILL" }) }]);
    } finally {
      lock.release();
    }
  }
}
