// Layer sys/: bindings to the kernel and C library that Bun does not expose (bun:ffi: flock, prctl,
// waitpid, tcgetpgrp). Imports only base/.
import { KraalError } from "../base/errors.ts";

/** glibc first; musl's name differs per architecture. */
export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"];

interface Libc {
  flock(fd: number, op: number): number;
  prctl(option: number, a: number, b: number, c: number, d: number): number;
  waitpid(pid: number, status: null, options: number): number;
  tcgetpgrp(fd: number): number;
  getpgrp(): number;
  /** The process group of `pid` (-1: no such process). */
  getpgid(pid: number): number;
}

let libc: Libc | undefined;

/**
 * The few C library calls Bun does not expose, loaded through bun:ffi on first use (read-only
 * commands never pay for it). Throws a KraalError if no C library can be loaded.
 */
export function loadLibc(): Libc {
  if (libc) return libc;
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  for (const name of LIBC_NAMES) {
    try {
      const lib = dlopen(name, {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
        waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
        tcgetpgrp: { args: [FFIType.i32], returns: FFIType.i32 },
        getpgrp: { args: [], returns: FFIType.i32 },
        getpgid: { args: [FFIType.i32], returns: FFIType.i32 },
      });
      libc = lib.symbols as unknown as Libc;
      return libc;
    } catch {}
  }
  throw new KraalError("E_NO_LIBC", "cannot load the C library through bun:ffi");
}

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

/**
 * Makes this process a child subreaper: orphaned descendants are re-parented to it instead of
 * to PID 1, so it can reap them at once. Without that, an orphan that exits stays a zombie until
 * PID 1 gets to it (every second or two here, never in many containers), and a zombie keeps
 * `kill(-pgid, 0)` answering. Returns false where the kernel refuses.
 */
export function becomeSubreaper(): boolean {
  return loadLibc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0;
}

/**
 * Reaps every exited child of ours in process group `pgid` (adopted orphans included) without
 * blocking. Call only after Bun has reaped the children it spawned itself, or Bun would never
 * learn their exit status. Returns how many were reaped.
 */
export function reapGroup(pgid: number): number {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) return 0;
  const c = loadLibc();
  let n = 0;
  while (c.waitpid(-pgid, null, WNOHANG) > 0) n++;
  return n;
}
