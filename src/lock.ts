import { closeSync, openSync } from "node:fs";
import { CorralError } from "./errors.ts";
import { loadLibc } from "./libc.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

/** A held lock; released by `release()` or, whatever happens, when the process dies. */
export interface Lock {
  release(): void;
}

/**
 * Takes an exclusive flock(2) on `path`, polling until `timeoutMs` (0 = try once).
 * flock locks belong to the open file, so they vanish with a crashed holder: no stale lock files.
 * The fd is close-on-exec, so agents spawned while it is held never inherit it.
 */
export async function acquireLock(path: string, timeoutMs = 5000): Promise<Lock> {
  const fd = openSync(path, "a", 0o600);
  const deadline = performance.now() + timeoutMs;
  let wait = 1;
  while (loadLibc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    if (performance.now() >= deadline) {
      closeSync(fd);
      throw new CorralError("E_LOCKED", `the state directory is busy (another corral holds ${path})`, {
        hint: "retry in a moment; if it persists, check for a hung corral process",
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
