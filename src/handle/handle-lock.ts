import { closeSync, constants, fstatSync, lstatSync, openSync } from "node:fs";
import { EXIT, KraalError } from "../base/errors.ts";
import { loadLibc } from "../sys/libc.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A handle file held for one kill; `current` is false when the file was retired or replaced while we waited. */
export interface HandleLock {
  current: boolean;
  release(): void;
}

/**
 * Takes an exclusive flock(2) on the handle file itself (never created, never followed), so two
 * kills of one agent run one after the other: the second sees what the first did (the handle
 * retired) and reports "already exited" instead of claiming to have stopped it too. Kills of
 * different agents never wait for each other. Null when there is no regular file to lock.
 * The lock belongs to the open file, so it vanishes with a crashed holder.
 */
export async function lockHandleFile(path: string, timeoutMs: number): Promise<HandleLock | null> {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch {
    return null;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    return null;
  }
  const deadline = performance.now() + timeoutMs;
  let wait = 1;
  while (loadLibc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    if (performance.now() >= deadline) {
      closeSync(fd);
      throw new KraalError("E_LOCKED", `another kraal is still stopping the agent of ${path}`, { exitCode: EXIT.busy, hint: "retry in a moment" });
    }
    await Bun.sleep(wait);
    wait = Math.min(wait * 2, 20);
  }
  const now = lstatSync(path, { throwIfNoEntry: false });
  const held = fstatSync(fd);
  let open = true;
  return {
    current: now !== undefined && now.ino === held.ino && now.dev === held.dev,
    release() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
