// Safe file IO inside the state directory: nothing here ever follows a symlink, blocks on a FIFO
// or writes through a name someone else could have planted. Every reader and writer of the state
// directory goes through these (handles, exit records, the lock, history, logs, the supervisor).
import { closeSync, constants as C, fstatSync, lstatSync, openSync, readSync, renameSync, type Stats, unlinkSync, writeSync } from "node:fs";
import { KraalError } from "../base/errors.ts";

/** Added to every open: never follow a symlink in the last component, never block on a FIFO, never take a terminal as ours. */
const SAFE = C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
export const O_READ = C.O_RDONLY | SAFE;
export const O_APPEND = C.O_WRONLY | C.O_APPEND | C.O_CREAT | SAFE;
/** Read-write, created if missing (a lock file). */
export const O_RDWR_CREATE = C.O_RDWR | C.O_CREAT | SAFE;
/** Created fresh: fails with EEXIST if anything (file, link, FIFO) already has the name. */
export const O_CREATE_NEW = C.O_WRONLY | C.O_CREAT | C.O_EXCL | SAFE;

/**
 * A path in the state directory that is not a regular file of ours where one was expected (a
 * symlink, FIFO, directory, device, socket), or is too big. `kind` says what it is, in words.
 */
export class UnsafeFileError extends KraalError {
  readonly path: string;
  readonly kind: string;
  constructor(path: string, kind: string) {
    super("E_UNSAFE_FILE", `${path} is ${kind}, not a regular file; kraal will not open it`, {
      hint: `move it aside (mv ${path} ${path}.bad) and retry`,
      facts: { path, kind },
    });
    this.name = "UnsafeFileError";
    this.path = path;
    this.kind = kind;
  }
}

/** What a non-regular entry is, in words ("a symlink", "a FIFO", ...); null for a regular file. */
export function describeKind(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isSymbolicLink()) return "a symlink";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "a device";
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/**
 * Opens `path` with `flags` plus O_NOFOLLOW|O_NONBLOCK, then insists (fstat of the opened fd, so
 * nothing can be swapped in between) that it is a regular file. A symlink fails with ELOOP and a
 * FIFO opens without blocking; both, and every other non-regular file, throw UnsafeFileError.
 * Other errors (ENOENT, EACCES, ENOSPC, ...) are thrown as they are. Returns the fd (close-on-exec).
 */
export function openSafe(path: string, flags: number, mode = 0o600): number {
  return openChecked(path, flags, mode).fd;
}

/** openSafe, with the fstat it checked. */
function openChecked(path: string, flags: number, mode = 0o600): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, flags | SAFE, mode);
  } catch (e) {
    // O_NOFOLLOW on a symlink is ELOOP; a directory opened for writing is EISDIR.
    if (errno(e) === "ELOOP") throw new UnsafeFileError(path, "a symlink");
    if (errno(e) === "EISDIR") throw new UnsafeFileError(path, "a directory");
    // A FIFO without a reader, opened write-only and non-blocking, is ENXIO.
    if (errno(e) === "ENXIO") throw new UnsafeFileError(path, "a FIFO");
    throw e;
  }
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const kind = describeKind(stat);
  if (kind) {
    closeSync(fd);
    throw new UnsafeFileError(path, kind);
  }
  return { fd, stat };
}

/**
 * Reads a whole regular file without following links or blocking. Null when it does not exist;
 * UnsafeFileError for a link, FIFO, directory or device, or when it is bigger than `maxBytes`
 * (`kind` is then "N bytes, too big"): reading stops as soon as more than `maxBytes` have come,
 * however the file grows meanwhile. `stat` is the fstat of the file actually read.
 */
export function readSafe(path: string, maxBytes = Number.MAX_SAFE_INTEGER): { data: Buffer; stat: Stats } | null {
  let opened: { fd: number; stat: Stats };
  try {
    opened = openChecked(path, O_READ);
  } catch (e) {
    if (errno(e) === "ENOENT") return null;
    throw e;
  }
  const { fd, stat } = opened;
  try {
    if (stat.size > maxBytes) throw new UnsafeFileError(path, `${stat.size} bytes, too big`);
    const chunks: Buffer[] = [];
    let total = 0;
    // Reads of one byte more than fstat said: a regular file reads short only at its end, so a
    // short read is the whole file (nearly always one read). A full one means it grew: read on.
    const chunk = Math.min(stat.size + 1, 1 << 20);
    for (;;) {
      const buf = Buffer.allocUnsafe(chunk);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new UnsafeFileError(path, `more than ${maxBytes} bytes, too big`);
      chunks.push(buf.subarray(0, n));
      if (n < buf.length) break;
    }
    return { data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), stat };
  } finally {
    closeSync(fd);
  }
}

/** readSafe as text (utf8 unless told): null when missing; throws UnsafeFileError as readSafe does. */
export function readTextSafe(path: string, opts: { encoding?: BufferEncoding; maxBytes?: number } = {}): string | null {
  const r = readSafe(path, opts.maxBytes);
  return r ? r.data.toString(opts.encoding ?? "utf8") : null;
}

/** Writes all of `data` to `fd` (write(2) may write less than asked). */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

/** A name no one can guess in advance: `.tmp.<name>.<pid>.<16 random hex digits>`. Starts with a dot, as no encoded id does. */
export function tempName(name: string): string {
  // Web Crypto's global, not node:crypto: importing that module costs more than a Bun start-up;
  // Buffer's hex, not a mapped Array.from: that cost 0.2-0.8 ms the first time, in every spawn.
  const hex = Buffer.from(crypto.getRandomValues(new Uint8Array(8)).buffer).toString("hex");
  return `.tmp.${name}.${process.pid}.${hex}`;
}

/** True for the dot-files writeFileAtomic leaves when interrupted. */
export const isTempName = (name: string) => name.startsWith(".");

/**
 * Replaces `dir/name` so readers see the old content or the new, never a torn one: a temp file
 * created with O_EXCL|O_NOFOLLOW under an unguessable name (so a link or FIFO planted in advance
 * can never be written through), then rename(2), which replaces whatever is at `name` (a
 * symlink there is replaced, never followed).
 */
export function writeFileAtomic(dir: string, name: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${dir}/${tempName(name)}`;
  try {
    const fd = openSafe(tmp, O_CREATE_NEW, mode);
    try {
      writeAll(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, `${dir}/${name}`);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
}

/** Appends `data` to a regular file (created 0600 if missing) in one write(2) with O_APPEND. */
export function appendSafe(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = openSafe(path, O_APPEND, mode);
  try {
    writeAll(fd, data);
  } catch (e) {
    // write(2) errors (ENOSPC) carry no path: name the file, so the message can.
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err === "object" && err.path === undefined) err.path = path;
    throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` fresh (after removing a regular file or link already there, never what a link
 * points to) and returns a write-only fd to it: for a record another process fills in later
 * through the fd, so it never resolves the path itself.
 */
export function createFresh(path: string, mode = 0o600): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new UnsafeFileError(path, "a directory");
  if (st) unlinkSync(path);
  return openSafe(path, O_CREATE_NEW, mode);
}

/** lstat that returns undefined for a missing path (never follows a link). */
export function lstatOrNull(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}
