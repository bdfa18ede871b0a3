import { closeSync, fstatSync, readFileSync } from "node:fs";
import { EXIT, KraalError } from "../base/errors.ts";
import { loadLibc } from "../sys/libc.ts";
import { O_RDWR_CREATE, openSafe } from "../sys/safe-fs.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

/** How long a writer waits for the state lock before it gives up (E_LOCKED, exit 75). */
export const LOCK_WAIT_MS = 5000;
/** After this long waiting, a writer says what it waits for (once). */
const NOTICE_AFTER_MS = 1000;

/** Told (once per wait, after NOTICE_AFTER_MS) what a lock request is waiting for; set by the CLI. */
let waitNotice: ((text: string) => void) | null = null;
export function onLockWait(f: ((text: string) => void) | null): void {
  waitNotice = f;
}

/**
 * Who holds the flock on the file open at `fd`, from /proc/locks (a file the kernel keeps of every
 * lock; no process table is scanned): "pid N", or null when it cannot be told.
 */
export function lockHolder(fd: number): string | null {
  try {
    const ino = fstatSync(fd).ino;
    for (const line of readFileSync("/proc/locks", "latin1").split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234567 0 EOF"
      const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
      if (m && Number(m[2]) === ino) return `pid ${m[1]}`;
    }
  } catch {}
  return null;
}

/** The error of a lock still held by someone else after the wait: exit 75 (EX_TEMPFAIL), retry later. */
export function lockedError(message: string, holder: string | null): KraalError {
  return new KraalError("E_LOCKED", holder ? `${message}; ${holder} holds it` : message, {
    exitCode: EXIT.busy,
    hint: holder ? `retry in a moment; if it persists, see what ${holder} is doing (ps -p ${holder.slice(4)})` : "retry in a moment; if it persists, check for a hung kraal process",
  });
}

/** A held lock; released by `release()` or, whatever happens, when the process dies. */
export interface Lock {
  release(): void;
}

/** Lock requests of this process, per path, queued in order: flock(2) would make them contend with each other. */
const queues = new Map<string, Promise<void>>();
/** Paths whose last request in this process gave up waiting. */
const stayedBusy = new Set<string>();

/**
 * Takes an exclusive flock(2) on `path`, polling until `timeoutMs` (0 = try once).
 * Requests from within one process (up retiring many agents at once) wait their turn in an
 * in-process queue instead of polling against each other.
 * flock locks belong to the open file, so they vanish with a crashed holder: no stale lock files.
 * The fd is close-on-exec, so agents spawned while it is held never inherit it.
 */
export async function acquireLock(path: string, timeoutMs = LOCK_WAIT_MS): Promise<Lock> {
  const previous = queues.get(path) ?? Promise.resolve();
  let releaseTurn!: () => void;
  const turn = new Promise<void>((r) => (releaseTurn = r));
  const mine = previous.then(() => turn);
  queues.set(path, mine);
  await previous;
  try {
    // Once a request of this process waited out its time on `path`, those queued behind it (kill
    // --all retiring many agents) try once: one wait in all, not one each.
    const inner = await flockFile(path, stayedBusy.has(path) ? 0 : timeoutMs).catch((e) => {
      if (e instanceof KraalError && e.code === "E_LOCKED") stayedBusy.add(path);
      throw e;
    });
    stayedBusy.delete(path);
    return {
      release() {
        inner.release();
        if (queues.get(path) === mine) queues.delete(path);
        releaseTurn();
      },
    };
  } catch (e) {
    if (queues.get(path) === mine) queues.delete(path);
    releaseTurn();
    throw e;
  }
}

async function flockFile(path: string, timeoutMs: number): Promise<Lock> {
  // Never through a planted link (it would create or lock someone else's file), never blocking on a FIFO.
  const fd = openSafe(path, O_RDWR_CREATE);
  const started = performance.now();
  const deadline = started + timeoutMs;
  let wait = 1;
  let told = false;
  while (loadLibc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const now = performance.now();
    if (now >= deadline) {
      const holder = lockHolder(fd);
      closeSync(fd);
      throw lockedError(`the state directory is busy: the lock ${path} is held by another process`, holder);
    }
    if (!told && waitNotice && now - started >= NOTICE_AFTER_MS) {
      told = true;
      const holder = lockHolder(fd);
      waitNotice(`waiting for the state lock ${path}${holder ? ` (held by ${holder})` : ""}, at most ${Math.ceil((deadline - now) / 1000)} s more`);
    }
    await Bun.sleep(wait);
    wait = Math.min(wait * 2, 20);
  }
  let held = true;
  return {
    release() {
      if (held) closeSync(fd);
      held = false;
    },
  };
}
