import { unlinkSync } from "node:fs";
import { fsError, KraalError, WRITE_ERRNOS } from "../base/errors.ts";
import { acquireLock, type Lock } from "../handle/lock.ts";
import { join } from "node:path";
import type { ExitStatus } from "../base/exit-status.ts";
import { tierOf, unchangedSince } from "../handle/handle.ts";
import { dropCgroup, endCgroup } from "./contain.ts";
import { appendHistory, type HistoryEntry, historyEntry } from "./history.ts";
import { type Entry, inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { probeGroup, readStat } from "../handle/probes.ts";
import { leaderOf, type Verdict, WRAPPER_KILLED } from "../handle/verdict.ts";
import { realSignal } from "./terminate.ts";

/** Retired entries are exactly those whose group is proven gone (or was never provably ours). */
export function isRetirable(v: Verdict): boolean {
  return (v.state === "exited" && !v.ours) || v.state === "stale";
}

/** The history line for an entry being retired, with the best exit status known. */
export function endOf(e: Entry, end?: Partial<ExitStatus> & { reason?: string; forced?: boolean }): HistoryEntry | null {
  const v = e.verdict;
  const h = v.handle ?? (v.legacyPgid ? { id: e.id ?? e.name, pgid: v.legacyPgid, argv: [], cwd: "", startedAt: 0 } : null);
  if (!h) return null;
  return historyEntry(h, {
    endedAt: v.exit?.endedAt ?? Date.now(),
    // The wrapper's own record, when there is one, is the truth; otherwise what the caller saw.
    exitCode: v.exit ? v.exit.exitCode : (end?.exitCode ?? null),
    signal: v.exit ? v.exit.signal : (end?.signal ?? null),
    state: v.state === "stale" ? "stale" : "exited",
    reason: end?.reason ?? (v.reason || "exited"),
    forced: end?.forced,
  });
}

/**
 * Moves entries to history and removes their handles and exit records. The caller holds the
 * state lock; each handle is removed only if it is still the very file that was inspected
 * (same inode, size, mtime), so a handle rewritten meanwhile is never lost.
 * Returns the entries actually retired.
 */
export function retire(l: Layout, items: { entry: Entry; history: HistoryEntry }[]): Entry[] {
  const still = items.filter(({ entry }) => entry.read.kind !== "missing" && entry.read.kind !== "corrupt" && unchangedSince(entry.path, entry.read.file));
  appendHistory(l.history, still.map((i) => i.history));
  for (const { entry } of still) {
    unlinkSync(entry.path);
    try {
      unlinkSync(join(l.exits, entry.name));
    } catch {}
    // Its cgroup goes with its handle (only when still the one recorded, and empty).
    const h = entry.verdict.handle;
    if (h?.cgroup) dropCgroup(h.cgroup);
  }
  return still.map((i) => i.entry);
}

/**
 * retire() under the state lock, for a command whose answer does not depend on it (wait, kill):
 * when the state directory cannot be written (full, read-only) or another kraal holds the lock
 * too long, nothing is retired and the reason is returned; a later sweep retires the handles.
 */
export async function retireIfPossible(l: Layout, items: { entry: Entry; history: HistoryEntry }[]): Promise<{ retired: Entry[]; unrecorded?: string }> {
  let lock: Lock | undefined;
  try {
    lock = await acquireLock(l.lock);
    return { retired: retire(l, items) };
  } catch (err) {
    if (err instanceof KraalError && err.code === "E_LOCKED") return { retired: [], unrecorded: err.message };
    const code = (err as NodeJS.ErrnoException)?.code;
    if (!code || !WRITE_ERRNOS.has(code)) throw err;
    return { retired: [], unrecorded: fsError(err)?.message ?? String(err) };
  } finally {
    lock?.release();
  }
}

/**
 * Ends an orphaned agent (a detached one whose wrapper died without writing its exit record):
 * SIGKILL to its group, after re-checking that the wrapper's corpse (same start time) or a member
 * still pins the number, so it is still ours. Returns the history line to retire it with
 * ("wrapper killed", SIGKILL), or null when the group could not be signaled (EPERM: kept).
 */
export function endOrphan(e: Entry): HistoryEntry | null {
  const h = e.verdict.handle;
  if (!e.verdict.orphaned || !h) return null;
  const leader = leaderOf(h, readStat);
  if (leader === "reused" || leader === "alive") return null;
  if (tierOf(h) === "cgroup") {
    // Everything it started is in its cgroup, the very one recorded (the verdict checked the inode).
    if (!endCgroup(h.cgroup!)) return null;
    return endOf(e, { exitCode: null, signal: "SIGKILL", reason: WRAPPER_KILLED, forced: true });
  }
  let signaled = false;
  if (probeGroup(h.pgid) === "alive") {
    const r = realSignal(h.pgid, "SIGKILL");
    if (r === "eperm") return null;
    signaled = r === "ok";
  }
  return endOf(e, { exitCode: null, signal: signaled ? "SIGKILL" : null, reason: WRAPPER_KILLED, forced: signaled });
}

/**
 * Ends the leftovers of a cgroup-tier agent that ended on its own (its exit record is written,
 * its wrapper is gone, members remain in the recorded cgroup): cgroup.kill, confirmed. Returns
 * the history line, or null when they did not die within the wait (kept for the next look).
 */
export function endLeftovers(e: Entry): HistoryEntry | null {
  const h = e.verdict.handle;
  if (!e.verdict.leftovers || !h?.cgroup) return null;
  return endCgroup(h.cgroup) ? endOf(e, { reason: "exited" }) : null;
}

/**
 * With the state lock held: retires pids/<name> if its agent has ended (ending an orphaned one
 * first), and returns null when the id is free; otherwise returns the verdict that keeps it
 * taken (running, corrupt, ...).
 */
export function retireIfEnded(l: Layout, name: string): Verdict | null {
  const e = inspect(l, name);
  if (e.read.kind === "missing") return null;
  if (e.verdict.orphaned || e.verdict.leftovers) {
    const history = e.verdict.orphaned ? endOrphan(e) : endLeftovers(e);
    if (!history) return e.verdict;
    retire(l, [{ entry: e, history }]);
    return null;
  }
  if (!isRetirable(e.verdict)) return e.verdict;
  const history = endOf(e);
  if (history) retire(l, [{ entry: e, history }]);
  return null;
}
