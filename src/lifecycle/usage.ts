import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { type ProcStat, readStat } from "../handle/probes.ts";

/** Processes walked per agent at most: a fork bomb must not make `ps` unbounded. */
const MAX_MEMBERS = 4096;
/** /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 per second for user space. */
const MS_PER_TICK = 10;

/** What an agent's processes use right now, as `ps --json` reports it (pm2's jlist fields). */
export interface Usage {
  /** The agent's own process: the wrapper's child (null when it has none, e.g. while ending). */
  pid: number | null;
  /** Processes counted: the wrapper and its descendants (cgroup tier: everything in its cgroup). */
  processes: number;
  /** User + system CPU time of those processes, in milliseconds. */
  cpuMs: number;
  /** Resident memory of those processes, in bytes. */
  rssBytes: number;
}

/** Children of `pid`'s main thread, from /proc/<pid>/task/<pid>/children (a targeted read). */
export function childrenOf(pid: number, procRoot = "/proc"): number[] {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/task/${pid}/children`, "latin1");
  } catch {
    return [];
  }
  return text.split(" ").filter(Boolean).map(Number);
}

let pageBytes: number | undefined;
/**
 * The size of a memory page, which /proc/<pid>/stat counts RSS in (4 KiB on x86-64; 4, 16 or
 * 64 KiB on arm64): the KernelPageSize of this process's first mapping, read once.
 */
export function pageSize(procRoot = "/proc"): number {
  if (pageBytes === undefined) {
    let kb = 4;
    try {
      // Only the first mapping's lines: the kernel makes smaps as it is read, and all of it is big.
      const fd = openSync(`${procRoot}/self/smaps`, "r");
      const buf = Buffer.allocUnsafe(4096);
      const n = readSync(fd, buf, 0, buf.length, null);
      closeSync(fd);
      const m = /^KernelPageSize:\s+(\d+) kB$/m.exec(buf.toString("latin1", 0, n));
      if (m) kb = Number(m[1]);
    } catch {}
    pageBytes = kb * 1024;
  }
  return pageBytes;
}

/** Ticks and pages, as summed from stat, in the units `ps --json` reports. */
export function usageOf(cpuTicks: number, rssPages: number): { cpuMs: number; rssBytes: number } {
  return { cpuMs: cpuTicks * MS_PER_TICK, rssBytes: rssPages * pageSize() };
}

/**
 * Sums the usage of the group led by `leader` (the wrapper): the wrapper and its descendants,
 * found by following each process's children from the leader down, one stat and one children
 * read each (`leaderStat`, when the caller has it, spares the first). Targeted reads of
 * processes we started, never a scan of /proc. Processes that were re-parented away (a daemon
 * that double-forked) are not counted; the cgroup tier counts those from its cgroup.
 */
export function groupUsage(leader: number, leaderStat: ProcStat | null = null, procRoot = "/proc"): Usage {
  const queue = [leader];
  const seen = new Set<number>();
  let cpuTicks = 0;
  let rssPages = 0;
  let agent: number | null = null;
  while (queue.length && seen.size < MAX_MEMBERS) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const st = pid === leader && leaderStat ? leaderStat : readStat(pid, procRoot);
    if (!st) continue;
    cpuTicks += st.cpuTicks;
    rssPages += st.rssPages;
    const kids = childrenOf(pid, procRoot);
    if (pid === leader) agent = kids[0] ?? null;
    queue.push(...kids);
  }
  return { pid: agent, processes: seen.size, ...usageOf(cpuTicks, rssPages) };
}
