// Layer base/: the vocabulary every layer shares (typed errors with exit codes, exit statuses,
// durations). Pure values; imports nothing of kraal's.
/**
 * The exit statuses kraal itself uses, one place for all of them (documented in README.md).
 * LSB-style 3/4 for `status`, 124 for timeouts like timeout(1).
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notRunning: 3,
  unknown: 4,
  /** EX_TEMPFAIL: the state lock stayed held by another process; nothing was changed, retry. */
  busy: 75,
  timeout: 124,
} as const;

/**
 * Every failure kraal reports to a user. `message` says what happened, `hint` the exact
 * command that fixes it; the CLI prints them as one or two lines and exits with `exitCode`.
 * Core code throws these and never prints or exits.
 */
export class KraalError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint?: string;
  readonly facts: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { exitCode?: number; hint?: string; facts?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = "KraalError";
    this.code = code;
    this.exitCode = opts.exitCode ?? EXIT.failed;
    this.hint = opts.hint;
    this.facts = opts.facts ?? {};
  }
}

/** Bad command-line input: exit status 2. */
export class UsageError extends KraalError {
  constructor(message: string, hint?: string) {
    super("E_USAGE", message, { exitCode: EXIT.usage, hint });
    this.name = "UsageError";
  }
}

/** The agent id names nothing kraal has heard of (no handle, no history). */
export class UnknownAgentError extends KraalError {
  constructor(id: string, exitCode: number = EXIT.failed) {
    super("E_UNKNOWN_AGENT", `no agent named ${JSON.stringify(id)}`, {
      exitCode,
      hint: "list agents with: kraal ps -a",
      facts: { id },
    });
    this.name = "UnknownAgentError";
  }
}

/** What errno codes of file operations mean, for people. */
const ERRNO_TEXT: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ENOTDIR: "a part of the path is not a directory",
  ENOENT: "no such file or directory",
  EISDIR: "is a directory",
  ELOOP: "is a symlink (kraal never follows one in its state directory)",
  EEXIST: "already exists",
  EMLINK: "too many links",
  ENAMETOOLONG: "file name too long",
};
const SYSCALL_VERB: Record<string, string> = { open: "open", mkdir: "create directory", rename: "rename", unlink: "remove", rmdir: "remove", write: "write", read: "read", lstat: "look at", stat: "look at", scandir: "list", symlink: "create", chmod: "change the mode of", fsync: "flush" };
/** Errors that mean the state directory cannot be written: a read command reports them and goes on. */
export const WRITE_ERRNOS = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT"]);

/**
 * Turns a file-system error (Node's `{code, syscall, path}`) into one line for people:
 * `cannot create directory /x/pids: read-only file system (EROFS)`, never "internal error: ...".
 * Null for anything that is not one.
 */
export function fsError(e: unknown): KraalError | null {
  const err = e as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (!err || typeof err.code !== "string" || !ERRNO_TEXT[err.code] || typeof err.path !== "string") return null;
  const verb = SYSCALL_VERB[err.syscall ?? ""] ?? "use";
  const where = err.dest ? `${err.path} to ${err.dest}` : err.path;
  const dir = err.path.replace(/\/[^/]*\/?$/, "") || "/";
  const hint =
    err.code === "EROFS" ? "the file system holding the state directory is mounted read-only: remount it read-write, or pass another --dir"
    : err.code === "EACCES" || err.code === "EPERM" ? `kraal needs to write its state directory: check the owner and mode of ${dir} (ls -ld ${dir}), or pass another --dir`
    : undefined;
  return new KraalError(`E_FS_${err.code}`, `cannot ${verb} ${where}: ${ERRNO_TEXT[err.code]} (${err.code})`, { hint, facts: { path: err.path, errno: err.code } });
}
