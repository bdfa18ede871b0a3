import { closeSync, openSync } from "node:fs";
import { CorralError } from "./errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
/** glibc first; musl's name differs per architecture. */
const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"];

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | undefined;

function flock(): FlockFn {
  if (flockFn) return flockFn;
  // Loaded on first use: bun:ffi costs startup time that read-only commands never pay.
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  for (const name of LIBC_NAMES) {
    try {
      const lib = dlopen(name, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
      flockFn = lib.symbols.flock as FlockFn;
      return flockFn;
    } catch {}
  }
  throw new CorralError("E_NO_FLOCK", "cannot load flock(2) from the C library");
}

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
  while (flock()(fd, LOCK_EX | LOCK_NB) !== 0) {
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
