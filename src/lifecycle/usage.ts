import { readFileSync } from "node:fs";

/** Processes walked per agent at most: a fork bomb must not make `ps` unbounded. */
const MAX_MEMBERS = 4096;
/** /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 per second for user space. */
const MS_PER_TICK = 10;

/** What an agent's processes use right now, as `ps --json` reports it (pm2's jlist fields). */
export interface Usage {
  /** The agent's own process: the wrapper's child (null when it has none, e.g. while ending). */
  pid: number | null;
  /** Processes counted: the wrapper and its descendants. */
  processes: number;
  /** User + system CPU time of those processes, in milliseconds. */
  cpuMs: number;
  /** Resident memory of those processes, in bytes. */
  rssBytes: number;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

/** Children of `pid`'s main thread, from /proc/<pid>/task/<pid>/children (a targeted read). */
export function childrenOf(pid: number, procRoot = "/proc"): number[] {
  const text = readText(`${procRoot}/${pid}/task/${pid}/children`);
  return text ? text.trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** CPU ticks (utime + stime, fields 14 and 15 of stat, counted after the last `)`) and VmRSS in bytes. */
export function processUsage(pid: number, procRoot = "/proc"): { cpuTicks: number; rssBytes: number } | null {
  const stat = readText(`${procRoot}/${pid}/stat`);
  if (!stat) return null;
  const f = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/);
  const cpuTicks = Number(f[11]) + Number(f[12]);
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readText(`${procRoot}/${pid}/status`) ?? "");
  return { cpuTicks: Number.isFinite(cpuTicks) ? cpuTicks : 0, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

/**
 * Sums the usage of the group led by `leader` (the wrapper): the wrapper and its descendants,
 * found by following each process's children from the leader down. Targeted reads of processes we
 * started, never a scan of /proc. Processes that were re-parented away (a daemon that double-forked)
 * are not counted; the containment tier's cgroup sees those.
 */
export function groupUsage(leader: number, procRoot = "/proc"): Usage {
  const queue = [leader];
  const seen = new Set<number>();
  let cpuTicks = 0;
  let rssBytes = 0;
  while (queue.length && seen.size < MAX_MEMBERS) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const u = processUsage(pid, procRoot);
    if (!u) continue;
    cpuTicks += u.cpuTicks;
    rssBytes += u.rssBytes;
    queue.push(...childrenOf(pid, procRoot));
  }
  return { pid: childrenOf(leader, procRoot)[0] ?? null, processes: seen.size, cpuMs: cpuTicks * MS_PER_TICK, rssBytes };
}
