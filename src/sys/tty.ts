import { readlinkSync } from "node:fs";

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
