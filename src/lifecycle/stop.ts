import { KraalError, UnknownAgentError } from "../base/errors.ts";
import type { StopSignalName } from "../base/exit-status.ts";
import { readHistory } from "./history.ts";
import { encodeId } from "../handle/id.ts";
import { type Entry, inspect } from "../handle/inspect.ts";
import { readExitRecord } from "../handle/exit-record.ts";
import { join } from "node:path";
import { acquireLock } from "../handle/lock.ts";
import { probeGroup, readStat } from "../handle/probes.ts";
import { endOf, retire } from "./retire.ts";
import type { Layout } from "../handle/state.ts";
import { type GroupCheck, realSignal, type TerminateResult, terminateGroup } from "./terminate.ts";
import { leaderOf, legacyAlive } from "../handle/verdict.ts";

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
  /** The stop signal that was sent first. */
  signal: StopSignalName;
  elapsedMs: number;
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
 * Stops one agent by its handle: TERM, grace, KILL, confirm, and only then retire the handle to
 * history. An agent that already ended is a success ("already exited"); an id never seen is an
 * UnknownAgentError; corrupt, foreign and (without `force`) unverified handles are refused and
 * nothing is signaled. A group that cannot be confirmed gone keeps its handle and is reported
 * as "stuck" (the caller exits 1).
 */
export async function stopAgent(l: Layout, id: string, opts: StopOptions): Promise<StopReport> {
  const e = inspect(l, encodeId(id));
  const v = e.verdict;
  const pgid = v.handle?.pgid ?? v.legacyPgid ?? null;
  const report = (result: StopReport["result"], r?: TerminateResult): StopReport => ({
    id,
    pgid,
    result,
    signal: opts.signal ?? "SIGTERM",
    elapsedMs: Math.round(r?.elapsedMs ?? 0),
  });
  if (e.read.kind === "missing") {
    if (readHistory(l.history).some((h) => h.id === id)) return report("already exited");
    throw new UnknownAgentError(id);
  }
  if (v.state === "corrupt") refuse(id, `its handle is corrupt (${v.reason})`, "move it aside with: kraal sweep");
  if (v.state === "foreign") refuse(id, `it is not ours to signal (${v.reason})`);
  if (v.state === "unverified" && !opts.force) {
    refuse(id, "its handle is in the legacy format, with no proof of identity", `if you are sure pgid ${v.legacyPgid} is that agent: kraal kill --force ${id}`);
  }
  let r: TerminateResult | undefined;
  if (v.ours || v.state === "unverified") {
    r = await terminateGroup(pgid!, { graceMs: opts.graceMs, confirmMs: opts.confirmMs, signal: opts.signal }, {
      check: groupCheck(e),
      signal: realSignal,
      now: () => performance.now(),
      sleep: (ms) => Bun.sleep(ms),
    });
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
  const lock = await acquireLock(l.lock);
  try {
    if (history) retire(l, [{ entry: e, history }]);
  } finally {
    lock.release();
  }
  // An agent whose exit record predates the kill had ended on its own; the kill only cleared leftovers.
  if (!r || r.outcome === "gone" || v.exit) return report("already exited", r);
  return report(r.forced ? "killed" : "stopped", r);
}
