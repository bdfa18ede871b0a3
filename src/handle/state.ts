import { lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { KraalError } from "../base/errors.ts";

/** Where each kind of record lives under the state directory (documented in README.md). */
export interface Layout {
  root: string;
  /** One owned handle per agent: pids/<encoded-id>. */
  pids: string;
  /** Exit records written by the wrapper when its agent ends: exits/<encoded-id>. */
  exits: string;
  /** Each agent's stdout+stderr, one rotated generation: logs/<encoded-id>.log(.1). */
  logs: string;
  /** Odd files moved aside by `kraal sweep`, never deleted. */
  quarantine: string;
  /** Append-only JSON lines of finished agents. */
  history: string;
  /** flock(2) target serializing handle creation and removal. */
  lock: string;
}

export function layoutOf(root: string): Layout {
  return {
    root,
    pids: join(root, "pids"),
    exits: join(root, "exits"),
    logs: join(root, "logs"),
    quarantine: join(root, "quarantine"),
    history: join(root, "history.jsonl"),
    lock: join(root, "lock"),
  };
}

/**
 * The directories kraal keeps inside the state directory; each is checked like the state
 * directory itself before use. Add a name here when a new kind of record gets its own directory.
 */
export const STATE_SUBDIRS = ["pids", "exits", "logs", "quarantine", "specs", "worktrees", "worktree-records"];

/**
 * A state directory kraal must not use: not a real directory, someone else's, or writable by
 * group or others (another user could then plant links and forged records in it). The message is
 * one line naming the path, the owner and the fix, as git does for "dubious ownership".
 */
export class UntrustedStateDirError extends KraalError {
  constructor(message: string, path: string) {
    super("E_UNTRUSTED_DIR", message, { facts: { path } });
    this.name = "UntrustedStateDirError";
  }
}

/** A user name for a uid from /etc/passwd (only read to word an error), else `uid N`. */
function userName(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid) && f[0]) return f[0];
    }
  } catch {}
  return `uid ${uid}`;
}

const who = (uid: number) => {
  const name = userName(uid);
  return name.startsWith("uid ") ? name : `uid ${uid} (${name})`;
};

/** Checks one directory of the state dir; `root` is the state dir, for the message. */
function checkDir(path: string, root: string, uid: number): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  const refuse = (why: string, fix: string) => {
    throw new UntrustedStateDirError(`refusing state directory ${root}: ${path === root ? "it" : path} ${why}; ${fix}`, root);
  };
  if (st.isSymbolicLink()) {
    if (path === root) refuse(`is a symlink (to ${readlinkOr(path)})`, `kraal adopts only a real directory: pass --dir ${targetOf(path)} if that is the one`);
    refuse("is a symlink", `remove it (rm ${path}) and kraal recreates it`);
  }
  if (!st.isDirectory()) refuse("is not a directory", `move it aside, or pass another --dir`);
  if (st.uid !== uid) {
    refuse(`is owned by ${who(st.uid)}, not by you (${who(uid)})`, `if it is yours: chown -R ${userName(uid).replace(/^uid /, "")} ${root}; else remove it or pass another --dir`);
  }
  if (st.mode & 0o022) {
    refuse(`is writable by ${st.mode & 0o020 ? (st.mode & 0o002 ? "group and others" : "group") : "others"} (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`, `if nobody else wrote to it: chmod -R go-w ${root}`);
  }
}

function targetOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return readlinkOr(path);
  }
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "?";
  }
}

/**
 * Refuses (UntrustedStateDirError, exit 1) a state directory that another user could tamper
 * with: the directory and each of STATE_SUBDIRS inside it must be a real directory (not a
 * symlink), owned by the current user, and not writable by group or others. Files inside need no
 * check of their own: in such a directory only we (or root) can create them, and every open
 * refuses links and FIFOs anyway (sys/safe-fs.ts). A missing directory passes: it is created 0700.
 */
export function checkStateDir(root: string, uid: number = process.geteuid?.() ?? 0): void {
  checkDir(root, root, uid);
  for (const d of STATE_SUBDIRS) checkDir(join(root, d), root, uid);
}

/**
 * The state directory: `--dir`, else $KRAAL_DIR, else the nearest ancestor of `cwd` holding a
 * `.kraal/` directory, else `./.kraal` (which only commands that write will create).
 * A `.kraal` symlink found on the way up is returned as it is (and refused by checkStateDir);
 * a symlink given explicitly (`--dir`, $KRAAL_DIR) is resolved once here, and its target checked.
 */
export function resolveStateDir(opts: { dir?: string; env?: Record<string, string | undefined>; cwd?: string } = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.dir || (opts.env ?? process.env).KRAAL_DIR;
  if (explicit) {
    const path = resolve(cwd, explicit);
    if (!lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) return path;
    try {
      return realpathSync(path);
    } catch {
      throw new UntrustedStateDirError(`state directory ${path} is a symlink to ${readlinkOr(path)}, which does not exist; create the directory or pass another --dir`, path);
    }
  }
  for (let d = cwd; ; d = dirname(d)) {
    const st = lstatSync(join(d, ".kraal"), { throwIfNoEntry: false });
    if (st && (st.isDirectory() || st.isSymbolicLink())) return join(d, ".kraal");
    if (dirname(d) === d) break;
  }
  return join(cwd, ".kraal");
}

/** resolveStateDir, then checkStateDir: the state directory a command may use. */
export function trustedStateDir(opts: Parameters<typeof resolveStateDir>[0] = {}): string {
  const root = resolveStateDir(opts);
  checkStateDir(root);
  return root;
}

/**
 * Creates the directories a writing command needs, 0700 (handles name processes, specs hold
 * environments), then checks them again: a directory someone else made first is refused, not
 * silently adopted.
 */
export function ensureLayout(l: Layout): void {
  const made = mkdirSync(l.root, { recursive: true, mode: 0o700 });
  for (const d of [l.pids, l.exits, l.logs]) mkdirSync(d, { recursive: true, mode: 0o700 });
  checkStateDir(l.root);
  if (made !== undefined) ignoredByGit(l.root);
}

/**
 * Makes git ignore `dir`, a directory kraal made: a `.gitignore` holding `*`, created exclusively
 * (an existing file, or a link planted there, is left alone). The default state directory is
 * `./.kraal`, often at the top of a repository, and agents' worktrees are made inside it: without
 * this, `git status` in the repository lists kraal's handles and logs, and `git add -A` commits
 * them, and each agent's worktree as an embedded repository.
 */
export function ignoredByGit(dir: string): void {
  try {
    writeFileSync(join(dir, ".gitignore"), "# Made by kraal: nothing in here belongs in a repository.\n*\n", { flag: "wx", mode: 0o600 });
  } catch {}
}
