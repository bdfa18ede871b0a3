import { lstatSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { compactIfLarge, HISTORY_MAX_BYTES, type HistoryEntry } from "./history.ts";
import { lstatOrNull } from "../sys/safe-fs.ts";
import { fsError, KraalError, WRITE_ERRNOS } from "../base/errors.ts";
import { type Entry, inspect, isTempName, listNames, probesFor } from "../handle/inspect.ts";
import { acquireLock } from "../handle/lock.ts";
import { endLeftovers, endOf, endOrphan, isRetirable, retire } from "./retire.ts";
import type { Layout } from "../handle/state.ts";
import { statePrefix } from "../sys/cgroup.ts";
import { listCgroups, readEvents, removeCgroup } from "../sys/cgroup-ops.ts";
import { containment } from "./contain.ts";
import { normalJit } from "../sys/jit.ts";

/** A temp file older than this is an interrupted write, not one in progress. */
export const TEMP_FILE_MAX_AGE_MS = 60_000;
/**
 * From this many handles on, the loop over them runs long enough to repay the JIT (measured: at
 * 100 handles `ps` was faster interpreted, at 1,000 compiled); see sys/jit.ts.
 */
const JIT_WORTHY_HANDLES = 256;
/** Handles are retired in batches: one history write per batch. */
const BATCH = 512;

export interface SweepReport {
  /** Handles whose group is gone, moved (or, dry run, to be moved) to history. */
  retired: { id: string; state: string; reason: string }[];
  /** Odd entries: reported always, moved to quarantine/ only by `kraal sweep`. */
  corrupt: { name: string; id: string | null; reason: string; quarantinedTo?: string }[];
  /** Handles left alone: running, foreign, unverified (and, when the directory cannot be written, ended ones not yet retired). */
  kept: Entry[];
  /** Why nothing could be retired or quarantined: the state directory cannot be written (read-only, permission, full). */
  unwritable?: string;
  /** Why nothing was retired: another process held the state lock (a `busyOk` sweep only answers, read-only). */
  busy?: string;
  /**
   * `kraal sweep` in the cgroup tier: cgroups of this state directory that no handle records.
   * Empty ones (a crash between making one and spawning into it) are removed; populated ones are
   * only reported, never killed: nothing proves whose processes they hold.
   */
  strayCgroups?: { path: string; populated: boolean; removed?: true }[];
  /** Orphaned agents (their wrapper died without an exit record) ended with SIGKILL (dry run: to be ended). */
  ended: { id: string; pgid: number; leftovers?: true }[];
}

/** How long a read command's sweep waits for the state lock before it answers read-only. */
export const READ_LOCK_WAIT_MS = 250;

/**
 * The startup sweep: every handle whose group is proven gone moves to history, stale ones
 * (pid reused, other boot) too — neither is ever signaled. Handles from other hosts or users are
 * left alone. Corrupt entries (bad names, garbage, symlinks, directories, FIFOs, oversized files,
 * interrupted temp files) are reported; with `quarantine` they are moved to quarantine/, never
 * deleted. The one signal a sweep sends is SIGKILL to an orphaned agent's group (its wrapper died
 * without an exit record, so the agent would otherwise run with nobody to record its end), after
 * re-proving the group is ours; it is retired as "wrapper killed". With `busyOk` (read commands), a
 * state lock still held by another process after READ_LOCK_WAIT_MS is no failure: the report says
 * `busy`, and what could not be retired is kept and shown.
 */
export async function sweep(l: Layout, opts: { dryRun?: boolean; quarantine?: boolean; now?: number; busyOk?: boolean } = {}): Promise<SweepReport> {
  const now = opts.now ?? Date.now();
  const report: SweepReport = { retired: [], corrupt: [], kept: [], ended: [] };
  const toRetire: { entry: Entry; history: HistoryEntry }[] = [];
  const { names, files } = listNames(l);
  if (names.length >= JIT_WORTHY_HANDLES) normalJit();
  const probes = probesFor(l);
  for (const name of names) {
    if (isTempName(name)) {
      let age = 0;
      try {
        age = now - lstatSync(join(l.pids, name)).mtimeMs;
      } catch {}
      if (age > TEMP_FILE_MAX_AGE_MS) report.corrupt.push({ name, id: null, reason: "interrupted write (temp file)" });
      continue;
    }
    const e = inspect(l, name, probes, files.has(name));
    if (e.read.kind === "missing") continue;
    if (e.verdict.state === "corrupt") {
      report.corrupt.push({ name, id: e.id, reason: e.verdict.reason });
    } else if (e.verdict.orphaned) {
      // Its wrapper died without recording the end: nobody else ever will, so end it now.
      const history = opts.dryRun ? endOf(e, { reason: e.verdict.reason }) : endOrphan(e);
      if (history) {
        report.ended.push({ id: e.id!, pgid: e.verdict.handle!.pgid });
        toRetire.push({ entry: e, history });
      } else report.kept.push(e);
    } else if (e.verdict.leftovers) {
      // A detached agent that ended on its own left members in its cgroup: end them (cgroup.kill).
      const history = opts.dryRun ? endOf(e) : endLeftovers(e);
      if (history) {
        report.ended.push({ id: e.id!, pgid: e.verdict.handle!.pgid, leftovers: true });
        toRetire.push({ entry: e, history });
      } else report.kept.push(e);
    } else if (isRetirable(e.verdict)) {
      const history = endOf(e);
      if (history) toRetire.push({ entry: e, history });
    } else {
      report.kept.push(e);
    }
  }
  if (opts.dryRun) {
    report.retired = toRetire.map(({ entry, history }) => ({ id: entry.id!, state: history.state, reason: history.reason }));
    return report;
  }
  const quarantine = opts.quarantine && report.corrupt.length > 0;
  // A history over its cap (one written before caps existed, or grown by appends that failed to compact) is compacted under the lock.
  const compact = (lstatOrNull(l.history)?.size ?? 0) > HISTORY_MAX_BYTES;
  if (toRetire.length === 0 && !quarantine && !compact && !opts.quarantine) return report;
  // No state directory yet: nothing of it to retire or quarantine, and no lock to take.
  if (names.length === 0 && !lstatOrNull(l.root)) return report;
  let lock: Awaited<ReturnType<typeof acquireLock>> | undefined;
  const done = new Set<Entry>();
  try {
    lock = await acquireLock(l.lock, opts.busyOk ? READ_LOCK_WAIT_MS : undefined);
    for (let i = 0; i < toRetire.length; i += BATCH) {
      const batch = toRetire.slice(i, i + BATCH);
      for (const e of retire(l, batch)) {
        const history = batch.find((b) => b.entry === e)!.history;
        done.add(e);
        report.retired.push({ id: e.id!, state: history.state, reason: history.reason });
      }
    }
    if (compact) compactIfLarge(l.history);
    if (opts.quarantine) report.strayCgroups = strayCgroups(l, names);
    if (quarantine) {
      mkdirSync(l.quarantine, { recursive: true, mode: 0o700 });
      const stamp = new Date(now).toISOString().replace(/[:.]/g, "-");
      for (const c of report.corrupt) {
        const to = join(l.quarantine, `${c.name}.${stamp}`);
        try {
          renameSync(join(l.pids, c.name), to);
          c.quarantinedTo = to;
        } catch {}
      }
    }
  } catch (e) {
    // A read-only, unwritable or full state directory: the look itself stays valid. Say so, keep
    // what could not be retired (it is still shown, and retired by a later command), and go on.
    // A lock held by someone else, for a read command: the same, read-only this time.
    const busy = opts.busyOk && e instanceof KraalError && e.code === "E_LOCKED";
    const err = (e as NodeJS.ErrnoException)?.code;
    if (!busy && (!err || !WRITE_ERRNOS.has(err))) throw e;
    if (busy) report.busy = (e as KraalError).message;
    else report.unwritable = fsError(e)?.message ?? String(e);
    for (const { entry } of toRetire) if (!done.has(entry)) report.kept.push(entry);
  } finally {
    lock?.release();
  }
  return report;
}

/**
 * The agent cgroups of this state directory (named with its prefix) in this process's base that no
 * handle in pids/ records. Called with the state lock held, so no spawn is between making its
 * cgroup and writing its handle. Empty ones are removed; populated ones are reported.
 */
function strayCgroups(l: Layout, names: string[]): { path: string; populated: boolean; removed?: true }[] {
  const base = containment().base;
  if (!base) return [];
  const prefix = statePrefix(l.root);
  const mine = listCgroups(base).filter((n) => n.startsWith(prefix));
  if (mine.length === 0) return [];
  const recorded = new Set<string>();
  for (const name of names) {
    const h = inspect(l, name).verdict.handle;
    if (h?.cgroup) recorded.add(h.cgroup.path);
  }
  const out: { path: string; populated: boolean; removed?: true }[] = [];
  for (const n of mine) {
    const path = join(base, n);
    if (recorded.has(path)) continue;
    const populated = readEvents(path)?.populated ?? false;
    out.push({ path, populated, ...(!populated && removeCgroup(path) ? { removed: true as const } : {}) });
  }
  return out;
}
