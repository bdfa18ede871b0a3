// Layer sys/: process file descriptors (Linux 5.3+) through bun:ffi and glibc. A pidfd names one
// process for as long as it is open, never a pid number that the kernel may hand to another
// process meanwhile; signals sent through it (pidfd_send_signal, Linux 5.1+) and waits on it
// (poll: readable once the process has exited) cannot reach a stranger. PIDFD_SIGNAL_PROCESS_GROUP
// (Linux 6.9+) sends to the process group the pidfd's process leads, through the same handle.
// Loaded lazily: only the commands that signal pay for dlopen.
import type { Pointer } from "bun:ffi";
import { LIBC_NAMES } from "./libc.ts";

/** linux/pidfd.h: send to the process group whose leader the pidfd names. */
export const PIDFD_SIGNAL_PROCESS_GROUP = 4;
const POLLIN = 1;
const ESRCH = 3;
const EPERM = 1;
const EINVAL = 22;
const ENOSYS = 38;

type Lib = {
  pidfd_open(pid: number, flags: number): number;
  pidfd_send_signal(fd: number, sig: number, info: null, flags: number): number;
  poll(fds: Pointer, n: number, timeout: number): number;
  close(fd: number): number;
  errno(): number;
  pollfd: Int32Array;
  pollfdPtr: Pointer;
};

let lib: Lib | null | undefined;
function load(): Lib | null {
  if (lib !== undefined) return lib;
  const { dlopen, FFIType, ptr, read } = require("bun:ffi") as typeof import("bun:ffi");
  for (const name of LIBC_NAMES) {
    try {
      const { symbols: s } = dlopen(name, {
        pidfd_open: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
        pidfd_send_signal: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      // struct pollfd { int fd; short events; short revents; }: two int32s.
      const pollfd = new Int32Array(2);
      lib = {
        pidfd_open: (pid, flags) => s.pidfd_open(pid, flags),
        pidfd_send_signal: (fd, sig, _info, flags) => s.pidfd_send_signal(fd, sig, null, flags),
        poll: (fds, n, timeout) => s.poll(fds, n, timeout),
        close: (fd) => s.close(fd),
        errno: () => read.i32(s.__errno_location()!, 0),
        pollfd,
        pollfdPtr: ptr(pollfd),
      };
      return lib;
    } catch {}
  }
  lib = null; // no C library with the wrappers (glibc < 2.36, musl without them): callers fall back
  return lib;
}

export type PidfdSupport = { open: boolean; groupSignal: boolean; reason?: string };

let support: PidfdSupport | undefined;
/**
 * What this kernel and libc offer, found by trying on kraal itself: pidfd_open of our own pid,
 * then signal 0 to our own process group through it (PIDFD_SIGNAL_PROCESS_GROUP: EINVAL before 6.9).
 */
export function pidfdSupport(): PidfdSupport {
  if (support) return support;
  const l = load();
  if (!l) return (support = { open: false, groupSignal: false, reason: "bun:ffi could not load pidfd_open from glibc (needs glibc 2.36+)" });
  const fd = l.pidfd_open(process.pid, 0);
  if (fd < 0) {
    const e = l.errno();
    return (support = { open: false, groupSignal: false, reason: e === ENOSYS ? "the kernel has no pidfd_open (needs Linux 5.3+)" : `pidfd_open failed (errno ${e})` });
  }
  try {
    // Signal 0 checks permission and existence only; kraal leads no group of its own here, so ESRCH
    // (the flag is understood, there is just no group led by us) counts as support, EINVAL does not.
    const r = l.pidfd_send_signal(fd, 0, null, PIDFD_SIGNAL_PROCESS_GROUP);
    const e = r < 0 ? l.errno() : 0;
    const groupSignal = r === 0 || e === ESRCH || e === EPERM;
    return (support = { open: true, groupSignal, ...(groupSignal ? {} : { reason: "the kernel has no PIDFD_SIGNAL_PROCESS_GROUP (needs Linux 6.9+)" }) });
  } finally {
    l.close(fd);
  }
}

/** An open pidfd; close it when done. */
export interface Pidfd {
  readonly fd: number;
  readonly pid: number;
  /**
   * Sends `sig` to the process, or with `group` to the process group it leads (its members stay
   * reachable through it after the leader itself has exited): "ok", "gone" (ESRCH: no such
   * process, or no member left in the group), "eperm", or "unsupported" (a kernel before 6.9 for `group`).
   */
  signal(sig: number, group?: boolean): "ok" | "gone" | "eperm" | "unsupported";
  /** Waits up to `ms` for the process to exit (zombie or reaped); true once it has. Blocks the thread. */
  waitExit(ms: number): boolean;
  close(): void;
}

/** Opens a pidfd for `pid` (a thread-group leader), or null when it does not exist or pidfds are unavailable. */
export function openPidfd(pid: number): Pidfd | null {
  const l = load();
  if (!l || !Number.isSafeInteger(pid) || pid <= 0) return null;
  const fd = l.pidfd_open(pid, 0);
  if (fd < 0) return null;
  let open = true;
  return {
    fd,
    pid,
    signal(sig, group = false) {
      if (l.pidfd_send_signal(fd, sig, null, group ? PIDFD_SIGNAL_PROCESS_GROUP : 0) === 0) return "ok";
      const e = l.errno();
      if (e === ESRCH) return "gone";
      if (e === EPERM) return "eperm";
      if (e === EINVAL && group) return "unsupported";
      throw Object.assign(new Error(`pidfd_send_signal failed (errno ${e})`), { errno: e });
    },
    waitExit(ms) {
      l.pollfd[0] = fd;
      l.pollfd[1] = POLLIN; // events = POLLIN, revents = 0
      const r = l.poll(l.pollfdPtr, 1, Math.max(0, Math.floor(ms)));
      return r > 0;
    },
    close() {
      if (open) l.close(fd);
      open = false;
    },
  };
}
