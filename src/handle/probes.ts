import { readFileSync } from "node:fs";

/** The fields of /proc/<pid>/stat that identify a process. */
export interface ProcStat {
  /** Field 2, the command name without its parentheses (at most 15 bytes; a process may set its own). */
  comm: string;
  /** Field 3: R, S, D, Z, T, ... */
  state: string;
  /** Field 5: process group id. */
  pgrp: number;
  /** Field 22: start time in clock ticks since boot; with the boot id, a pid's identity. */
  startTicks: number;
  /** Fields 14 + 15: user + system CPU time, in clock ticks (USER_HZ). */
  cpuTicks: number;
  /** Field 24: resident set size, in pages. */
  rssPages: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) sits in parentheses and may
 * itself contain spaces and `)`, so fields are counted after the *last* `)`.
 * Returns null for anything malformed rather than guessing.
 */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open || text.charCodeAt(close + 1) !== 0x20) return null;
  // Fields after the name, counted from 0 (field 3, the state): the kernel separates them with
  // single spaces. Only the six needed are cut out: splitting all ~50 cost more than the read.
  const f: string[] = [];
  let from = close + 2;
  for (let k = 0; k <= 21; k++) {
    let to = text.indexOf(" ", from);
    if (to < 0) to = text.charCodeAt(text.length - 1) === 0x0a ? text.length - 1 : text.length;
    if (k === 0 || k === 2 || k === 11 || k === 12 || k === 19 || k === 21) f[k] = text.slice(from, to);
    if (to >= text.length - 1) {
      if (k < 19) return null;
      break;
    }
    from = to + 1;
  }
  // f[0] is field 3 (state), f[2] field 5 (pgrp), f[11]+f[12] fields 14+15 (utime+stime), f[19] field 22 (starttime), f[21] field 24 (rss)
  const pgrp = Number(f[2]);
  const startTicks = Number(f[19]);
  const state = f[0]!;
  if (state.length !== 1 || !/[A-Za-z]/.test(state) || !Number.isSafeInteger(pgrp) || f[2] === "" || !Number.isSafeInteger(startTicks) || f[19] === "") return null;
  const cpuTicks = Number(f[11]) + Number(f[12]);
  const rssPages = Number(f[21]);
  return { comm: text.slice(open + 1, close), state, pgrp, startTicks, cpuTicks: cpuTicks || 0, rssPages: rssPages || 0 };
}

/** Reads one process's stat by pid (a targeted read, never a listing). Null when it does not exist. */
export function readStat(pid: number, procRoot = "/proc"): ProcStat | null {
  try {
    return parseStat(readFileSync(`${procRoot}/${pid}/stat`, "latin1"));
  } catch {
    return null;
  }
}

/** This boot's id; it changes on every boot, so handles from an earlier boot are never trusted. */
export function readBootId(procRoot = "/proc"): string {
  return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, "latin1").trim();
}

/**
 * This machine's host name as gethostname(2) gives it (os.hostname()): the kernel's, for this
 * process's UTS namespace, read from /proc. Loading node:os for it would cost about 0.4 ms, more
 * than all the rest of a `ps` of ten agents.
 */
export function readHostname(procRoot = "/proc"): string {
  try {
    return readFileSync(`${procRoot}/sys/kernel/hostname`, "utf8").replace(/\n$/, "");
  } catch {
    return (require("node:os") as typeof import("node:os")).hostname();
  }
}

export type GroupProbe = "alive" | "eperm" | "gone";

/**
 * `kill(-pgid, 0)`: "alive" while any member exists (zombies included), "eperm" when members
 * exist but belong to someone we may not signal, "gone" on ESRCH. Callers must not read
 * "alive" as "the agent runs": a zombie leader keeps the group answering.
 */
export function probeGroup(pgid: number, kill: (pid: number, sig: number) => unknown = process.kill): GroupProbe {
  assertSignalableGroup(pgid);
  const r = killResult(() => kill(-pgid, 0));
  return r === "ok" ? "alive" : r;
}

/** Runs one kill(2) and reads its outcome: "ok", "gone" (ESRCH) or "eperm"; other errors are thrown. */
export function killResult(send: () => unknown): "ok" | "gone" | "eperm" {
  try {
    send();
    return "ok";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return "gone";
    if (code === "EPERM") return "eperm";
    throw e;
  }
}

let ownPgidCache: number | undefined;
/** The caller's own process group, which kraal never signals. */
export function ownPgid(): number {
  ownPgidCache ??= readStat(process.pid)?.pgrp ?? -1;
  return ownPgidCache;
}

/** Largest pid Linux can hand out (PID_MAX_LIMIT); recorded pgids above it are corrupt. */
export const PID_LIMIT = 4_194_304;

/**
 * The last check before any group signal: pgid must be an integer in 2..PID_LIMIT and not the
 * caller's own group. `kill(-1, …)` would signal every process we may signal and `kill(0, …)`
 * our own group, so a bad number here must never reach the kernel.
 */
export function assertSignalableGroup(pgid: number): void {
  if (!Number.isSafeInteger(pgid) || pgid <= 1 || pgid > PID_LIMIT) {
    throw new RangeError(`refusing to signal process group ${pgid}`);
  }
  if (pgid === ownPgid()) throw new RangeError(`refusing to signal kraal's own process group ${pgid}`);
}

/** The facts about this machine and user that a handle must match to be ours. */
export interface Identity {
  bootId: string;
  host: string;
  uid: number;
}

let identityCache: Identity | undefined;
export function currentIdentity(procRoot = "/proc"): Identity {
  identityCache ??= { bootId: readBootId(procRoot), host: readHostname(procRoot), uid: process.getuid?.() ?? -1 };
  return identityCache;
}
