import { readlinkSync } from "node:fs";
import { loadLibc } from "./libc.ts";

/**
 * Is file descriptor `fd` of this process a terminal? Read from its link in /proc/self/fd (a
 * targeted read of our own process): loading node:tty costs milliseconds at start-up.
 */
export function isTerminal(fd: number): boolean {
  try {
    return /^\/dev\/(pts\/|tty|console)/.test(readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}

/**
 * May this process take over the terminal on `fd` (raw mode, reading keys)? Yes when its process
 * group is the terminal's foreground group, or when the terminal is not its controlling terminal
 * (tcgetpgrp fails: no job control applies). No for a background job (`kraal run ... &` in an
 * interactive shell): changing the terminal's mode from there stops the process with SIGTTOU,
 * and its keys belong to the shell.
 */
export function ownsTerminal(fd: number): boolean {
  const c = loadLibc();
  const fg = c.tcgetpgrp(fd);
  return fg === -1 || fg === c.getpgrp();
}
