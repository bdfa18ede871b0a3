import { closeSync, fstatSync, lstatSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Layout } from "../handle/state.ts";
import { loadLibc } from "../sys/libc.ts";
import { O_APPEND, O_RDWR_CREATE, O_READ, openSafe } from "../sys/safe-fs.ts";

/**
 * How much of one run's output is kept: `maxBytes` in total (0: unbounded), spread over the live
 * file `<name>.log` and LOG_FILES - 1 rotated generations `<name>.log.1` (newer) ... `.log.3`
 * (oldest), each at most maxBytes / LOG_FILES. When the live file is full it becomes `.log.1`,
 * `.log.1` becomes `.log.2`, and the oldest is deleted: renames only, so a reader's open file keeps
 * its bytes.
 */
export const LOG_FILES = 4;
/** 64 MiB per run by default (16 MiB a file). */
export const DEFAULT_LOG_MAX = 64 * 1024 * 1024;
/** The smallest limit: 4 files of 4 KiB (below that it would rotate on every line). */
export const MIN_LOG_MAX = LOG_FILES * 4096;

/** The per-file size of a total limit. */
export const fileMax = (total: number) => Math.floor(total / LOG_FILES);

/** `<name>.log` (the live file of the current run), or the previous run's `<name>.log.prev`. */
export function logPath(l: Layout, name: string, previous = false): string {
  return join(l.logs, `${name}.log${previous ? ".prev" : ""}`);
}

/** The file the detached writer holds an flock on while it may still write. */
export const writerLockPath = (l: Layout, name: string) => join(l.logs, `${name}.log.lock`);

const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};
const removeQuietly = (p: string) => {
  try {
    unlinkSync(p);
  } catch {}
};
const renameQuietly = (from: string, to: string) => {
  try {
    renameSync(from, to);
  } catch {}
};

/** The files of the log at `live`, oldest first (`.3`, `.2`, `.1`, the live one); only those that exist. */
export function generations(live: string): string[] {
  const out: string[] = [];
  for (let i = LOG_FILES - 1; i >= 1; i--) if (exists(`${live}.${i}`)) out.push(`${live}.${i}`);
  if (exists(live)) out.push(live);
  return out;
}

/**
 * A new run of `name` begins: the current run's files become the previous run's (`.log.prev`,
 * `.log.prev.1` ..., shown by `logs --previous`), replacing the run before. Without a current
 * run's file there is nothing to move, and the previous run's files are kept.
 */
export function startNewRun(l: Layout, name: string): void {
  const cur = logPath(l, name);
  // No file of a current run (an agent's first start): nothing moves, and the previous run's stay.
  const current = generations(cur);
  if (current.length === 0) return;
  const prev = logPath(l, name, true);
  for (const p of generations(prev)) removeQuietly(p);
  for (const p of current) renameQuietly(p, prev + p.slice(cur.length));
}

/** Shifts `.log` -> `.log.1` -> ... and drops the oldest. */
export function rotateParts(live: string): void {
  removeQuietly(`${live}.${LOG_FILES - 1}`);
  for (let i = LOG_FILES - 2; i >= 1; i--) renameQuietly(`${live}.${i}`, `${live}.${i + 1}`);
  renameQuietly(live, `${live}.1`);
}

/**
 * The detached agent's log writer: a POSIX sh loop around dd(1), invoked as
 *
 *   kraal-log-writer -c 'eval "$KRAAL_LOG_WRITER"' ID LOG FILE_MAX FILES   (fd 3: the agent's output, fd 4: its lock)
 *
 * (/bin/sh with argv[0] kraal-log-writer and the script in the environment, so `ps aux` shows one line)
 *
 * Why a writer at all: an agent writing straight into its file can only be bounded by truncating
 * the file under it (racy, loses bytes). Why sh + dd: about 1-2 MB of memory per agent and no
 * start-up time worth measuring (a Bun process costs tens of MB); dd reads with read(2) and never
 * reads ahead, so every byte lands in exactly one file, unchanged, as soon as it is read.
 * - Each dd copies at most the room left in the live file (COUNT blocks of BS; a short read counts
 *   as a block, so it never copies more), appending. A dd that read nothing ("0+0 records in")
 *   met end-of-file (every holder of the pipe has closed it): the writer exits.
 * - Each dd opens the live file itself with O_APPEND|O_NOFOLLOW|O_NONBLOCK (oflag=append,nofollow,
 *   nonblock) and sizes are read with stat(1), which does not follow links: a symlink or FIFO put
 *   at logs/<id>.log is never written through, read or waited on; the output is then dropped, as
 *   on a full disk.
 * - When the room left is under one block it rotates (rotateParts, by renames).
 * - A failed write (a full disk) deletes the older files, then drops output block by block while
 *   it cannot write: the agent never blocks on a full pipe nor dies of SIGPIPE.
 * - It ignores the stop signals and runs in its own session, outside the agent's group and
 *   cgroup, so the group's KILL cannot cut its last write: it ends at end-of-file.
 * - fd 4 is an flock(2)ed file (logs/<id>.log.lock) held until it exits: `kraal logs` waits on it
 *   after the agent ended, so `kraal wait x && kraal logs x` shows every byte.
 */
export const LOG_WRITER_SCRIPT = `log=$1 max=$2 files=$3
trap '' TERM INT HUP QUIT USR1 USR2
exec 0<&3 3<&- 2>/dev/null
umask 077
bs=65536
while [ $((bs * 16)) -gt "$max" ] && [ "$bs" -gt 256 ]; do bs=$((bs / 2)); done
rotate() {
  rm -f "$log.$((files - 1))"
  i=$((files - 2))
  while [ "$i" -ge 1 ]; do
    [ ! -e "$log.$i" ] || mv -f "$log.$i" "$log.$((i + 1))"
    i=$((i - 1))
  done
  mv -f "$log" "$log.1"
}
size=$(stat -c %s -- "$log") || size=0
while :; do
  if [ $((max - size)) -lt "$bs" ]; then rotate; size=0; fi
  if info=$(LC_ALL=C dd bs="$bs" count=$(((max - size) / bs)) of="$log" oflag=append,nofollow,nonblock conv=notrunc 2>&1 4>&-); then
    case $info in "0+0 records in"*) exit 0 ;; esac
    size=$(stat -c %s -- "$log") || size=0
  else
    i=1
    while [ "$i" -lt "$files" ]; do rm -f "$log.$i"; i=$((i + 1)); done
    [ "$(dd bs="$bs" count=1 4>&- | wc -c)" -gt 0 ] || exit 0
    size=$(stat -c %s -- "$log") || size=0
  fi
done
`;

export const LOG_WRITER_NAME = "kraal-log-writer";
const WRITER_PATH = "/usr/local/bin:/usr/bin:/bin";
const LOCK_EX = 2;
const LOCK_SH = 1;
const LOCK_NB = 4;

/**
 * Starts the log writer of agent `name` (total limit `max` > 0) and returns the write end of its
 * pipe, for the wrapper's stdout and stderr; the caller closes it once the wrapper has it. The
 * writer exits by itself when the last holder of that end closes it.
 */
export function startLogWriter(l: Layout, name: string, max: number): number {
  const live = logPath(l, name);
  // The live file exists once spawn returns (`kraal logs ID` at once finds it), made here as
  // every state file is: never through a link, never waiting on a FIFO.
  closeSync(openSafe(live, O_APPEND));
  let lockFd: number | null = null;
  try {
    lockFd = openSafe(writerLockPath(l, name), O_RDWR_CREATE);
    // A writer of an earlier run still draining (an escaped process holds its pipe) keeps its lock:
    // then this one runs without, and `logs` waits only for the older one.
    loadLibc().flock(lockFd, LOCK_EX | LOCK_NB);
    const w = Bun.spawn(["/bin/sh", "-c", 'eval "$KRAAL_LOG_WRITER"', name, live, String(fileMax(max)), String(LOG_FILES)], {
      argv0: LOG_WRITER_NAME,
      cwd: l.logs,
      env: { PATH: WRITER_PATH, LC_ALL: "C", KRAAL_LOG_WRITER: LOG_WRITER_SCRIPT },
      detached: true,
      stdio: ["ignore", "ignore", "ignore", "pipe", lockFd] as unknown as ["ignore", "ignore", "ignore"],
    });
    w.unref();
    return w.stdio[3] as unknown as number;
  } finally {
    if (lockFd !== null) closeSync(lockFd);
  }
}

/**
 * Waits (up to `timeoutMs`) until no log writer of `name` holds its lock: every byte it read is in
 * the files. No lock file: there never was a writer.
 */
export async function awaitLogWriter(l: Layout, name: string, timeoutMs = 2000): Promise<void> {
  let fd: number;
  try {
    fd = openSafe(writerLockPath(l, name), O_READ);
  } catch {
    return;
  }
  try {
    const deadline = performance.now() + timeoutMs;
    while (loadLibc().flock(fd, LOCK_SH | LOCK_NB) !== 0 && performance.now() < deadline) await Bun.sleep(10);
  } finally {
    closeSync(fd);
  }
}

/**
 * An in-process writer with the same rotation, for agents whose output passes through kraal
 * (`up`). Bytes are written as they come, never decoded. A failed write (a full disk) drops the
 * older files, then the bytes: an agent is never blocked or killed by its log.
 */
export class RotatingLog {
  private fd: number | null = null;
  private size = 0;
  private readonly fileMax: number;
  constructor(private readonly live: string, max: number) {
    this.fileMax = max > 0 ? fileMax(max) : Infinity;
  }

  private open(): number {
    if (this.fd === null) {
      this.fd = openSafe(this.live, O_APPEND);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      try {
        if (this.size >= this.fileMax) {
          this.close();
          rotateParts(this.live);
        }
        const n = writeSync(this.open(), chunk, off, Math.min(chunk.length - off, this.fileMax - this.size));
        off += n;
        this.size += n;
      } catch {
        for (let i = 1; i < LOG_FILES; i++) removeQuietly(`${this.live}.${i}`);
        try {
          const n = writeSync(this.open(), chunk, off, chunk.length - off);
          off += n;
          this.size += n;
        } catch {
          return;
        }
      }
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
