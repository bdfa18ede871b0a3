import { closeSync } from "node:fs";
import { KraalError } from "../base/errors.ts";
import { loadLibc } from "../sys/libc.ts";
import { O_RDWR_CREATE, openSafe } from "../sys/safe-fs.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

/** A held lock; released by `release()` or, whatever happens, when the process dies. */
export interface Lock {
  release(): void;
}

/** Lock requests of this process, per path, queued in order: flock(2) would make them contend with each other. */
const queues = new Map<string, Promise<void>>();

/**
 * Takes an exclusive flock(2) on `path`, polling until `timeoutMs` (0 = try once).
 * Requests from within one process (up retiring many agents at once) wait their turn in an
 * in-process queue instead of polling against each other.
 * flock locks belong to the open file, so they vanish with a crashed holder: no stale lock files.
 * The fd is close-on-exec, so agents spawned while it is held never inherit it.
 */
export async function acquireLock(path: string, timeoutMs = 5000): Promise<Lock> {
  const previous = queues.get(path) ?? Promise.resolve();
  let releaseTurn!: () => void;
  const turn = new Promise<void>((r) => (releaseTurn = r));
  const mine = previous.then(() => turn);
  queues.set(path, mine);
  await previous;
  try {
    const inner = await flockFile(path, timeoutMs);
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
  const deadline = performance.now() + timeoutMs;
  let wait = 1;
  while (loadLibc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    if (performance.now() >= deadline) {
      closeSync(fd);
      throw new KraalError("E_LOCKED", `the state directory is busy (another kraal holds ${path})`, {
        hint: "retry in a moment; if it persists, check for a hung kraal process",
      });
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
