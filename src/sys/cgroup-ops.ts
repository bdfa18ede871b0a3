// Layer sys/: the few operations kraal does on one cgroup v2 directory: make it, prove it is the
// one recorded (its inode), read `populated`, list members, freeze, kill, remove.
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from "node:fs";
import { join } from "node:path";

/** A cgroup kraal made: its path and the inode of its directory (a recreated one has another). */
export interface CgroupRef {
  path: string;
  ino: number;
}

/** What a recorded cgroup is now: still ours with members, ours and empty, or gone / replaced. */
export type CgroupProbe = "populated" | "empty" | "gone";

/**
 * Makes `base/name` (and `base` itself when missing: one level, never a chain). Throws EEXIST
 * when it exists: the caller decides whether the old one is removable.
 */
export function makeCgroup(base: string, name: string): CgroupRef {
  // The base nearly always exists: looked at first, so no EEXIST error is made and thrown every spawn.
  if (!existsSync(base)) {
    try {
      mkdirSync(base);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  const path = join(base, name);
  mkdirSync(path);
  return { path, ino: lstatSync(path).ino };
}

/** True while `ref.path` is the very directory recorded (same inode, still a directory). */
export function isSameCgroup(ref: CgroupRef): boolean {
  const st = lstatSync(ref.path, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.ino === ref.ino;
}

/** `populated` and `frozen` from cgroup.events (zombies do not count as members); null when unreadable. */
export function readEvents(path: string): { populated: boolean; frozen: boolean } | null {
  let text: string;
  try {
    text = readFileSync(join(path, "cgroup.events"), "latin1");
  } catch {
    return null;
  }
  return { populated: /^populated 1$/m.test(text), frozen: /^frozen 1$/m.test(text) };
}

/**
 * Liveness of a recorded cgroup. The inode is checked before and after reading events, so a
 * cgroup removed and recreated under the same name in between is never taken for ours.
 */
export function probeCgroup(ref: CgroupRef): CgroupProbe {
  if (!isSameCgroup(ref)) return "gone";
  const ev = readEvents(ref.path);
  if (!ev || !isSameCgroup(ref)) return "gone";
  return ev.populated ? "populated" : "empty";
}

/** The pids in the cgroup itself (not its children): a targeted read of its cgroup.procs. */
export function cgroupMembers(path: string): number[] {
  let text: string;
  try {
    text = readFileSync(`${path}/cgroup.procs`, "latin1");
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const n = Number(line);
    if (line !== "" && Number.isSafeInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/**
 * Every member of the cgroup and of its descendants (a nested kraal's agents), depth first.
 * `leaf`: the caller knows it has no child cgroups (see childlessChildren), so none are looked for.
 */
export function cgroupTreeMembers(path: string, leaf = false): number[] {
  const subs = leaf ? [] : subCgroups(path);
  return subs.length ? [...subs.flatMap((sub) => cgroupTreeMembers(sub)), ...cgroupMembers(path)] : cgroupMembers(path);
}

/**
 * True when no child cgroup of `parent` has children of its own: its live descendants
 * (cgroup.stat's nr_descendants) are exactly its subdirectories (link count minus 2). Three reads
 * for all the agent cgroups under one base, instead of a look into each; false when unsure. (A
 * child cgroup made while this runs can still be missed by one listing: the counts it feeds are
 * shown, never acted on.)
 */
export function childlessChildren(parent: string): boolean {
  try {
    // The link count read before and after the count of descendants: a sibling made or removed in
    // between (another kraal's spawn) could otherwise make the two agree by chance.
    const before = lstatSync(parent).nlink;
    const m = /^nr_descendants (\d+)$/m.exec(readFileSync(join(parent, "cgroup.stat"), "latin1"));
    return m !== null && Number(m[1]) === before - 2 && lstatSync(parent).nlink === before;
  } catch {
    return false;
  }
}

const CONTROL_FILE = /^[a-z]+\.[a-z_.]+$/;

/**
 * The child cgroups of `path`. Names shaped like control files (`cgroup.procs`, `memory.max`,
 * `cpu.stat.local`) are skipped without a stat: `ps` lists each running agent's cgroup, so this is
 * on its hot path. kraal's own cgroup names have no dot; a child cgroup an agent made itself under
 * such a name is still emptied by cgroup.kill, which covers all descendants.
 */
function subCgroups(path: string): string[] {
  // Nearly always none: a directory's link count is 2 plus its subdirectories (cgroupfs keeps it
  // so too), and one lstat costs less than listing ~25 control files.
  if ((lstatSync(path, { throwIfNoEntry: false })?.nlink ?? 2) <= 2) return [];
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (CONTROL_FILE.test(name)) continue;
    const sub = join(path, name);
    if (lstatSync(sub, { throwIfNoEntry: false })?.isDirectory()) out.push(sub);
  }
  return out;
}

/** One write(2) to a cgroup control file, opened write-only (never created, never truncated). */
function write(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** Freezes (true) or thaws (false) the cgroup and all below it. Returns false when it cannot. */
export function setFrozen(path: string, frozen: boolean): boolean {
  try {
    write(join(path, "cgroup.freeze"), frozen ? "1" : "0");
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every process in the cgroup and below, at once (cgroup.kill, Linux 5.14+). */
export function killCgroup(path: string): boolean {
  try {
    write(join(path, "cgroup.kill"), "1");
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes an unpopulated cgroup, its (empty) child cgroups first. True when it is gone; false when
 * it still has members (EBUSY) or cannot be removed. Call only on a cgroup proven ours.
 */
export function removeCgroup(path: string): boolean {
  for (const sub of subCgroups(path)) removeCgroup(sub);
  try {
    rmdirSync(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** Names of the cgroups directly in `base` (a listing of cgroupfs, never of /proc). */
export function listCgroups(base: string): string[] {
  try {
    return readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => String(d.name));
  } catch {
    return [];
  }
}
