// Layer handle/: what proves an agent is ours. Ids, the handle record, /proc/<pid>/stat probes,
// exit records, the verdict, the state lock and layout. Imports base/ and sys/; never signals.
import { lstatSync } from "node:fs";
import { describeKind, readSafe, UnsafeFileError } from "../sys/safe-fs.ts";
import { PID_LIMIT } from "./probes.ts";
import type { CgroupRef } from "../sys/cgroup-ops.ts";
import type { Tier } from "../sys/cgroup.ts";

/** Version of the on-disk handle record; readers reject versions they do not know. */
export const HANDLE_VERSION = 1;
/**
 * The largest handle a reader accepts, and so the largest a spawn may write. Linux bounds argv
 * plus environment to a quarter of the stack limit, at most 6 MiB; a prompt passed as arguments
 * (up to 128 KiB each) easily reaches hundreds of KiB. JSON escaping can grow argv, so spawn
 * checks the serialized record against this before the agent starts: whatever it writes, every
 * reader can read back. Anything bigger is not one of ours and is not read whole.
 */
export const MAX_HANDLE_BYTES = 16 * 1024 * 1024;

/**
 * The owned handle: everything needed to prove, later and from another process, that process
 * group `pgid` is still the one kraal started (leader start time + boot id + host + uid).
 */
export interface Handle {
  v: typeof HANDLE_VERSION;
  id: string;
  pgid: number;
  /** Field 22 of the leader's /proc/<pid>/stat when it was started. */
  leaderStart: number;
  bootId: string;
  host: string;
  uid: number;
  argv: string[];
  cwd: string;
  /** Wall-clock start, ms since the epoch. */
  startedAt: number;
  /** Who runs it: "spawn" (detached), "run" or "up" (attached to a supervising kraal). */
  mode: string;
  /** How many times a supervisor has restarted this agent (absent: never). */
  restarts?: number;
  /** The git worktree kraal made for it (`spawn --worktree`); its cwd is `path`. */
  worktree?: { path: string; branch: string; repo: string };
  /** Its containment: "cgroup" (in `cgroup`) or "group" (absent in handles written before tiers). */
  tier?: Tier;
  /** The cgroup it was started in (cgroup tier): path and the inode of that directory. */
  cgroup?: CgroupRef;
  /**
   * The name its wrapper takes once it has written the exit record (verdict.ts ENDED_COMM).
   * Absent in handles of an older kraal, whose wrappers never rename themselves: their exit
   * record is read whenever the wrapper lives, or their agents would show running for the grace.
   */
  endedComm?: string;
}

/** The tier of a handle; handles written before tiers existed are of the group tier. */
export const tierOf = (h: Pick<Handle, "tier" | "cgroup">): Tier => (h.tier === "cgroup" && h.cgroup ? "cgroup" : "group");

/** What a file in pids/ turned out to be. `file` is what lstat said, for "rewritten since?" checks. */
export type HandleRead =
  | { kind: "handle"; handle: Handle; file: FileStamp }
  | { kind: "legacy"; pgid: number; file: FileStamp }
  | { kind: "corrupt"; reason: string; file?: FileStamp }
  | { kind: "missing" };

export interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
  uid: number;
}

function allStrings(xs: unknown[]): boolean {
  for (let i = 0; i < xs.length; i++) if (typeof xs[i] !== "string") return false;
  return true;
}

const isPid = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 1 && (n as number) <= PID_LIMIT;

/**
 * Validates a handle's text field by field. Accepts the versioned JSON record, and the seed
 * project's legacy format (a bare pgid), which carries no identity and so is only "unverified".
 * Never repairs: a record that is off in any way is reported as corrupt with the reason.
 */
export function parseHandle(text: string): { handle: Handle } | { legacy: number } | { corrupt: string } {
  // Every record kraal writes starts with "{": only anything else needs trimming and the legacy test.
  if (text.charCodeAt(0) !== 0x7b) {
    const trimmed = text.trim();
    if (trimmed === "") return { corrupt: "empty file" };
    if (/^\d+$/.test(trimmed)) {
      const n = Number(trimmed);
      return isPid(n) ? { legacy: n } : { corrupt: `pgid ${trimmed} is out of range` };
    }
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    return { corrupt: "neither a JSON record nor a bare pgid" };
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return { corrupt: "not a JSON object" };
  if (o.v !== HANDLE_VERSION) return { corrupt: `unknown record version ${JSON.stringify(o.v)}` };
  const bad = (field: string) => ({ corrupt: `field ${field} is missing or invalid` });
  if (typeof o.id !== "string" || o.id === "") return bad("id");
  if (!isPid(o.pgid)) return bad("pgid");
  if (!Number.isSafeInteger(o.leaderStart) || (o.leaderStart as number) < 0) return bad("leaderStart");
  if (typeof o.bootId !== "string" || o.bootId === "") return bad("bootId");
  if (typeof o.host !== "string") return bad("host");
  if (!Number.isSafeInteger(o.uid) || (o.uid as number) < 0) return bad("uid");
  if (!Array.isArray(o.argv) || o.argv.length === 0 || !allStrings(o.argv)) return bad("argv");
  if (typeof o.cwd !== "string") return bad("cwd");
  if (!Number.isSafeInteger(o.startedAt) || (o.startedAt as number) < 0) return bad("startedAt");
  if (typeof o.mode !== "string") return bad("mode");
  const w = o.worktree as Record<string, unknown> | undefined;
  if (w !== undefined && (typeof w !== "object" || w === null || typeof w.path !== "string" || typeof w.branch !== "string" || typeof w.repo !== "string")) return bad("worktree");
  if (o.tier !== undefined && o.tier !== "group" && o.tier !== "cgroup") return bad("tier");
  const c = o.cgroup as Record<string, unknown> | undefined;
  if (c !== undefined && (typeof c !== "object" || c === null || typeof c.path !== "string" || !c.path.startsWith("/") || c.path.split("/").includes("..") || !Number.isSafeInteger(c.ino))) return bad("cgroup");
  if (o.tier === "cgroup" && c === undefined) return bad("cgroup");
  if (o.endedComm !== undefined && typeof o.endedComm !== "string") return bad("endedComm");
  return { handle: o as unknown as Handle };
}

/**
 * Reads one entry of pids/ without ever following it: symlinks, directories, FIFOs, devices
 * and oversized files are reported as corrupt before anything is opened (a FIFO opened for
 * reading would block forever). The read itself (sys/safe-fs.ts readSafe) opens with
 * O_NOFOLLOW|O_NONBLOCK, checks with fstat what it opened and reads at most MAX_HANDLE_BYTES, so
 * a file swapped for a link, FIFO or huge file after the lstat is reported, never followed,
 * waited on or read whole.
 *
 * `listedAsFile`: the directory listing (its d_type) said this entry is a regular file, so the
 * lstat is left out; anything swapped in since the listing is caught by the same open and fstat.
 */
export function readHandle(path: string, listedAsFile = false): HandleRead {
  if (!listedAsFile) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return { kind: "missing" };
    if (!st.isFile()) return { kind: "corrupt", reason: `is ${describeKind(st)}` };
    if (st.size > MAX_HANDLE_BYTES) return { kind: "corrupt", reason: `is ${st.size} bytes, too big for a handle` };
  }
  let r: ReturnType<typeof readSafe>;
  try {
    r = readSafe(path, MAX_HANDLE_BYTES);
  } catch (e) {
    if (e instanceof UnsafeFileError) return { kind: "corrupt", reason: `is ${e.kind}` };
    return { kind: "corrupt", reason: `cannot be read (${(e as NodeJS.ErrnoException).code})` };
  }
  if (!r) return { kind: "missing" };
  const st = r.stat;
  const file: FileStamp = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, uid: st.uid };
  const text = r.data.toString("utf8");
  const parsed = parseHandle(text);
  if ("handle" in parsed) return { kind: "handle", handle: parsed.handle, file };
  if ("legacy" in parsed) return { kind: "legacy", pgid: parsed.legacy, file };
  return { kind: "corrupt", reason: parsed.corrupt, file };
}


/** Atomic replace through an O_EXCL temp file of an unguessable name; see sys/safe-fs.ts. */
export { writeFileAtomic } from "../sys/safe-fs.ts";

export function serializeHandle(h: Handle): string {
  return `${JSON.stringify(h)}\n`;
}

/** True when the file at `path` is still the one described by `stamp` (same inode, size, mtime). */
export function unchangedSince(path: string, stamp: FileStamp): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.ino === stamp.ino && st.size === stamp.size && st.mtimeMs === stamp.mtimeMs;
}
