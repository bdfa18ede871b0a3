import { fsError, KraalError, UnknownAgentError, WRITE_ERRNOS } from "../base/errors.ts";
import type { StopSignalName } from "../base/exit-status.ts";
import { hasRun } from "./history.ts";
import { encodeId } from "../handle/id.ts";
import { type Entry, inspect } from "../handle/inspect.ts";
import { readExitRecord } from "../handle/exit-record.ts";
import { join } from "node:path";
import { acquireLock } from "../handle/lock.ts";
import { probeGroup, readStat } from "../handle/probes.ts";
import { endOf, endOrphan, retire } from "./retire.ts";
import type { HistoryEntry } from "./history.ts";
import type { Layout } from "../handle/state.ts";
import { CONFIRM_MS, type GroupCheck, leaderSignal, leaderSleep, realSignal, type TerminateResult, terminateGroup } from "./terminate.ts";
import { openLeader } from "../handle/leader.ts";
import { lockHandleFile } from "../handle/handle-lock.ts";
import { leaderOf, legacyAlive, SELF_REASON } from "../handle/verdict.ts";
import { tierOf } from "../handle/handle.ts";
import { terminateCgroup } from "./contain.ts";

export interface StopOptions {
  graceMs: number;
  /** The first signal (default SIGTERM); SIGKILL follows after the grace. */
  signal?: StopSignalName;
  /** Allow signaling legacy (unverified) handles, whose identity cannot be proven. */
  force?: boolean;
  confirmMs?: number;
}

export interface StopReport {
  id: string;
  pgid: number | null;
  /** "stopped" (ended on the stop signal), "killed" (needed KILL), "already exited", or "stuck". */
  result: "stopped" | "killed" | "already exited" | "already stopped" | "stuck";
  /** Set when its wrapper had been killed alone: the agent was ended with SIGKILL at once. */
  wrapperKilled?: true;
  /** The agent was ended but its end could not be recorded (the state directory cannot be written): why. */
  unrecorded?: string;
  /** The stop signal that was sent first. */
  signal: StopSignalName;
  elapsedMs: number;
  /**
   * Set (by `kraal up`) when the agent had no process to signal: the state it was in (`backoff`,
   * `waiting`). It is stopped all the same; `signal` is then the one it would have been sent.
   */
  was?: string;
}

/**
 * The ownership check run before every signal of a kill: the recorded leader (same pid, same
 * start time, not a zombie) is alive, or — for a group that had already lost its leader when the
 * kill began — members still hold the number.
 */
function groupCheck(e: Entry): () => GroupCheck {
  const v = e.verdict;
  if (v.legacyPgid) {
    const pgid = v.legacyPgid;
    return () => (legacyAlive(pgid, { readStat, probeGroup }) ? "alive" : "ended");
  }
  const h = v.handle!;
  const leaderless = leaderOf(h, readStat) === "gone";
  return () => {
    const leader = leaderOf(h, readStat);
    if (leader === "alive") return "alive";
    if (leader === "reused") return "foreign";
    if (leader === "gone" && leaderless && probeGroup(h.pgid) === "alive") return "alive";
    return "ended";
  };
}

function refuse(id: string, why: string, hint?: string): never {
  throw new KraalError("E_REFUSED", `refusing to signal ${JSON.stringify(id)}: ${why}`, { hint, facts: { id } });
}

/**
 * Retires one entry under the state lock; false when another kraal retired (or replaced) it first.
 * A state directory that cannot be written (read-only, permission, full) does not undo a kill that
 * worked: the reason goes to `unrecorded`, and a later command's sweep retires the handle.
 */
async function retireOnce(l: Layout, e: Entry, history: HistoryEntry, unrecorded: { why?: string }): Promise<boolean> {
  let lock: Awaited<ReturnType<typeof acquireLock>> | undefined;
  try {
    lock = await acquireLock(l.lock);
    return retire(l, [{ entry: e, history }]).length === 1;
  } catch (err) {
    // The lock held by another kraal for too long is no failure either: the agent is stopped.
    const locked = err instanceof KraalError && err.code === "E_LOCKED";
    const code = (err as NodeJS.ErrnoException)?.code;
    if (!locked && (!code || !WRITE_ERRNOS.has(code))) throw err;
    unrecorded.why = locked ? (err as KraalError).message : (fsError(err)?.message ?? String(err));
    return true;
  } finally {
    lock?.release();
  }
}

/**
 * Stops one agent by its handle: TERM, grace, KILL, confirm, and only then retire the handle to
 * history. An agent that already ended is a success ("already exited"); an id never seen is an
 * UnknownAgentError; corrupt, foreign and (without `force`) unverified handles are refused and
 * nothing is signaled. A group that cannot be confirmed gone keeps its handle and is reported
 * as "stuck" (the caller exits 1); one the kernel refuses to signal (EPERM) is E_DENIED. The
 * caller's own group is refused. An orphaned agent (its wrapper was killed alone) gets SIGKILL at
 * once and is recorded as "wrapper killed". Of two concurrent kills of one agent, the one that
 * holds the handle file's lock first reports "stopped"; the other waits, then "already exited".
 */
export async function stopAgent(l: Layout, id: string, opts: StopOptions): Promise<StopReport> {
  const name = encodeId(id);
  const held = await lockHandleFile(join(l.pids, name), opts.graceMs + (opts.confirmMs ?? CONFIRM_MS) + KILL_SLACK_MS);
  try {
    // Retired (or replaced by a new run) while another kill held it: that kill ended this run.
    if (held && !held.current) return { id, pgid: null, result: "already exited", signal: opts.signal ?? "SIGTERM", elapsedMs: 0 };
    return await stopLocked(l, id, name, opts);
  } finally {
    held?.release();
  }
}

/** Time a kill may wait, beyond another kill's grace and confirmation, for that kill to finish. */
const KILL_SLACK_MS = 10_000;

async function stopLocked(l: Layout, id: string, name: string, opts: StopOptions): Promise<StopReport> {
  const e = inspect(l, name);
  const v = e.verdict;
  const pgid = v.handle?.pgid ?? v.legacyPgid ?? null;
  const unrecorded: { why?: string } = {};
  const report = (result: StopReport["result"], r?: TerminateResult): StopReport => ({
    id,
    pgid,
    result,
    signal: opts.signal ?? "SIGTERM",
    elapsedMs: Math.round(r?.elapsedMs ?? 0),
    ...(unrecorded.why ? { unrecorded: unrecorded.why } : {}),
  });
  if (e.read.kind === "missing") {
    if (hasRun(l.history, id)) return report("already exited");
    throw new UnknownAgentError(id);
  }
  if (v.state === "corrupt") refuse(id, `its handle is corrupt (${v.reason})`, "move it aside with: kraal sweep");
  if (v.self) refuse(id, `it is ${SELF_REASON} (this kraal runs inside that agent)`, `run it from outside the agent: kraal kill ${id}`);
  if (v.state === "foreign") refuse(id, v.reason.includes("EPERM") ? `the kernel refused the signal (EPERM): ${v.reason}` : `it is not ours to signal (${v.reason})`);
  if (v.orphaned) {
    const history = endOrphan(e);
    if (!history) refuse(id, "the kernel refused the signal (EPERM)");
    return (await retireOnce(l, e, history, unrecorded)) ? { ...report("killed"), wrapperKilled: true } : report("already exited");
  }
  if (v.state === "unverified" && !opts.force) {
    refuse(id, "its handle is in the legacy format, with no proof of identity", `if you are sure pgid ${v.legacyPgid} is that agent: kraal kill --force ${id}`);
  }
  let r: TerminateResult | undefined;
  const h = v.handle;
  // The leader's pidfd, opened and then verified: every group signal and wait goes through it.
  const leader = h && v.ours ? openLeader(h) : null;
  try {
    const signal = leader ? leaderSignal(leader) : realSignal;
    if (h && v.ours && tierOf(h) === "cgroup") {
      const check = groupCheck(e);
      r = await terminateCgroup(h.cgroup!, { graceMs: opts.graceMs, confirmMs: opts.confirmMs, signal: opts.signal }, {
        // Only while its leader is provably the recorded one (the members get it through the freeze otherwise).
        signalGroup: (sig) => {
          if (check() === "alive") signal(h.pgid, sig);
        },
        now: () => performance.now(),
        sleep: (ms) => Bun.sleep(ms),
      });
    } else if (v.ours || v.state === "unverified") {
      r = await terminateGroup(pgid!, { graceMs: opts.graceMs, confirmMs: opts.confirmMs, signal: opts.signal }, {
        check: groupCheck(e),
        signal,
        now: () => performance.now(),
        sleep: leader ? leaderSleep(leader) : (ms) => Bun.sleep(ms),
      });
    }
  } finally {
    leader?.close();
  }
  if (r) {
    if (r.outcome === "denied") {
      throw new KraalError("E_DENIED", `the kernel refused to signal ${JSON.stringify(id)} (pgid ${pgid}): EPERM, its group now belongs to another user; its handle is kept`, {
        hint: "an agent that switched user (sudo, a setuid program) can only be stopped by that user or root",
        facts: { id, pgid },
      });
    }
    if (r.outcome === "stuck") {
      throw new KraalError("E_STUCK", `agent ${JSON.stringify(id)} (pgid ${pgid}) did not die after SIGKILL; its handle is kept`, {
        hint: "a process in uninterruptible sleep (state D) or a frozen cgroup ends only when the kernel lets it; retry: kraal kill " + id,
        facts: { id, pgid },
      });
    }
  }
  // Retire on what the kill confirmed, not on a fresh look: orphaned zombies of the group may
  // hold its number for a second or two after every member is dead.
  const exit = readExitRecord(join(l.exits, e.name), pgid!) ?? v.exit;
  const wasRunning = r !== undefined && r.outcome !== "gone";
  const history = endOf({ ...e, verdict: { ...v, exit } }, {
    signal: r?.forced ? "SIGKILL" : wasRunning ? (opts.signal ?? "SIGTERM") : null,
    reason: wasRunning ? "killed" : undefined,
    forced: r?.forced,
  });
  if (history) await retireOnce(l, e, history, unrecorded);
  // An agent whose exit record predates the kill had ended on its own; the kill only cleared leftovers.
  if (!r || r.outcome === "gone" || v.exit) return report("already exited", r);
  return report(r.forced ? "killed" : "stopped", r);
}
