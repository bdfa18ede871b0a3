import { encodeId } from "../handle/id.ts";
import type { Entry } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { logPath } from "../lifecycle/logs.ts";
import { childrenOf, groupUsage, usageOf } from "../lifecycle/usage.ts";
import type { ProcStat } from "../handle/probes.ts";
import type { HistoryEntry } from "../lifecycle/history.ts";
import type { SupervisorRecord } from "../supervise/supervisor.ts";
import type { AgentState } from "../handle/verdict.ts";
import { tierOf } from "../handle/handle.ts";
import type { Tier } from "../sys/cgroup.ts";
import { census, cgroupUsage } from "../lifecycle/contain.ts";
import { type CgroupRef, childlessChildren } from "../sys/cgroup-ops.ts";
import { dirname } from "node:path";

/**
 * One agent as `ps --json` and `status --json` print it. A stable scripting interface:
 * fields are only ever added. Times are ISO 8601 strings.
 */
export interface AgentRow {
  id: string;
  state: AgentState;
  pgid: number | null;
  argv: string[];
  /** Set when argv is only its start (an agent of `kraal up` between runs, whose argv is long). */
  argvCut?: true;
  cwd: string | null;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  /** Why the state is what it is ("pid reused", "is a symlink", ...); empty when nothing to say. */
  reason: string;
  /** Set for rows from history. */
  history?: true;
  /** The containment of an agent with a handle: "cgroup" (escape-proof) or "group" (see kraal doctor). */
  tier?: Tier;
  /** Cgroup tier, running agents: the processes in its cgroup (zombies not counted)... */
  members?: number;
  /** ... and how many of them left its process group (daemons it started: tmux, ssh-agent, setsid). */
  escapees?: number;
  /** Restarts so far, for agents supervised by `kraal up`. */
  restarts?: number;
  /** `ps --json` and `status --json`, running agents: the group's leader (the wrapper). */
  leaderPid?: number;
  /** ... the agent's own process, the wrapper's child. */
  pid?: number | null;
  /** ... the wrapper and its descendants: how many, their CPU time and resident memory. */
  processes?: number;
  cpuMs?: number;
  rssBytes?: number;
  /** The git worktree kraal made for it (`spawn --worktree`), and its branch. */
  worktree?: string;
  branch?: string;
  /** `--json`: where its output is logged (for agents with a handle or history). */
  logPath?: string;
}

/**
 * Adds what a script wants beyond the table (pm2's jlist fields): the log path, and for running
 * agents the leader, the agent's pid, CPU time and RSS of the group (targeted /proc reads).
 */
export function withDetails(row: AgentRow, l: Layout): AgentRow {
  const name = encodeId(row.id);
  const out: AgentRow = { ...row, logPath: logPath(l, name) };
  if ((row.state === "running" || row.state === "starting") && row.pgid !== null && !row.history) {
    const cgroup = cgroupOf.get(row);
    if (cgroup) {
      // Cgroup tier: every process in its cgroup, escapees included.
      const u = cgroupUsage(cgroup);
      Object.assign(out, { leaderPid: row.pgid, pid: childrenOf(row.pgid)[0] ?? null, processes: u.processes, ...usageOf(u.cpuTicks, u.rssPages) });
    } else {
      const u = groupUsage(row.pgid, leaderSeen.get(row) ?? null);
      Object.assign(out, { leaderPid: row.pgid, pid: u.pid, processes: u.processes, cpuMs: u.cpuMs, rssBytes: u.rssBytes });
    }
  }
  return out;
}

/** What a row's entry already knows, kept beside the row (not in it: rows are printed as they are). */
const cgroupOf = new WeakMap<AgentRow, CgroupRef>();
const leaderSeen = new WeakMap<AgentRow, ProcStat>();

const iso = (ms: number | undefined | null) => (ms ? new Date(ms).toISOString() : null);

/** The start time of rows built here, in ms, so the table need not parse the ISO string back. */
const startedMsOf = new WeakMap<AgentRow, number>();
/** A row's start time in ms (null when it has none). */
export function startedMs(r: AgentRow): number | null {
  return startedMsOf.get(r) ?? (r.startedAt ? Date.parse(r.startedAt) : null);
}

/**
 * The rows of a listing. Whether agent cgroups have child cgroups is asked once per parent (three
 * reads), not by a look into each agent's cgroup: ps calls this for every agent it lists.
 */
export function rowsOfEntries(entries: Entry[]): AgentRow[] {
  const childless = new Map<string, boolean>();
  const leaf = (cgroup: string) => {
    const parent = dirname(cgroup);
    let known = childless.get(parent);
    if (known === undefined) childless.set(parent, (known = childlessChildren(parent)));
    return known;
  };
  return entries.map((e) => rowOfEntry(e, leaf));
}

/** One entry's row; `leaf` says whether an agent cgroup is known to have no children (rowsOfEntries). */
export function rowOfEntry(e: Entry, leaf?: (cgroup: string) => boolean): AgentRow {
  const v = e.verdict;
  const h = v.handle;
  const counted = h?.cgroup && v.ours && v.state === "running" ? census(h.cgroup, h.pgid, { leaf: leaf?.(h.cgroup.path) }) : null;
  const row: AgentRow = {
    id: e.id ?? e.name,
    state: v.state,
    pgid: h?.pgid ?? v.legacyPgid ?? null,
    argv: h?.argv ?? [],
    cwd: h?.cwd ?? null,
    startedAt: iso(h?.startedAt),
    endedAt: iso(v.exit?.endedAt),
    exitCode: v.exit?.exitCode ?? null,
    signal: v.exit?.signal ?? null,
    reason: v.reason,
  };
  // Optional fields, in the order ps --json has always printed them.
  if (h) row.tier = tierOf(h);
  if (counted) {
    row.members = counted.members;
    row.escapees = counted.escapees;
  }
  if (h?.worktree) {
    row.worktree = h.worktree.path;
    row.branch = h.worktree.branch;
  }
  if (h?.startedAt) startedMsOf.set(row, h.startedAt);
  if (counted) cgroupOf.set(row, h!.cgroup!);
  else if (e.leaderStat) leaderSeen.set(row, e.leaderStat);
  return row;
}

/**
 * Adds what a live `kraal up` knows to the rows: restart counts, and agents between runs
 * (`backoff`, `failed`) that have no handle. A dead supervisor's record is ignored.
 */
export function withSupervisor(rows: AgentRow[], sup: { record: SupervisorRecord; alive: boolean } | null): AgentRow[] {
  if (!sup?.alive) return rows;
  const out = rows.map((r) => {
    const a = sup.record.agents[r.id];
    if (!a || r.history) return r;
    // Running, but not yet ready for the agents that depend on it.
    const state = a.state === "starting" && r.state === "running" ? "starting" : r.state;
    return { ...r, state, ...(state === "starting" ? { reason: "not ready yet" } : {}), ...(a.restarts ? { restarts: a.restarts } : {}) };
  });
  for (const [id, a] of Object.entries(sup.record.agents)) {
    if ((a.state === "backoff" || a.state === "failed" || a.state === "waiting" || a.state === "stopped") && !rows.some((r) => r.id === id && !r.history)) {
      const reason =
        a.state === "backoff" && a.nextStartAt ? `restarting in ${Math.max(0, a.nextStartAt - Date.now())}ms` : a.state === "failed" ? "gave up" : a.state === "waiting" ? `waiting for ${(a.waitingFor ?? []).join(", ")}` : a.state === "stopped" ? "on request" : "";
      out.push({
        id, state: a.state, pgid: null, argv: a.argv, ...(a.argvCut ? { argvCut: true as const } : {}), cwd: a.cwd, startedAt: null, endedAt: null,
        exitCode: a.exitCode ?? null, signal: a.signal ?? null, restarts: a.restarts, reason,
      });
    }
  }
  // Agents between runs keep their place among the others (ps lists handles by name).
  const past = out.filter((r) => r.history);
  const now = out.filter((r) => !r.history).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [...past, ...now];
}

export function rowOfHistory(h: HistoryEntry): AgentRow {
  return {
    id: h.id,
    state: h.state,
    pgid: h.pgid,
    argv: h.argv,
    cwd: h.cwd || null,
    startedAt: iso(h.startedAt),
    endedAt: iso(h.endedAt),
    exitCode: h.exitCode,
    signal: h.signal,
    reason: h.reason,
    history: true,
  };
}
