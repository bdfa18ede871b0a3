// Layer handle/: a pidfd for a handle's leader, opened only when it is provably the recorded
// process. The identity check runs AFTER opening: a pidfd names one process for as long as it is
// open, so once the start time matches, every signal and wait through it reaches that process
// (or, for the group, that process's group) and never one that reused the number.
import { openPidfd, type Pidfd } from "../sys/pidfd.ts";
import type { Handle } from "./handle.ts";
import { readStat } from "./probes.ts";
import { leaderOf } from "./verdict.ts";

/** The verified leader's pidfd, or null (leader gone or reused, or no pidfds here: callers fall back to kill(2)). */
export function openLeader(h: Pick<Handle, "pgid" | "leaderStart">, read = readStat): Pidfd | null {
  const fd = openPidfd(h.pgid);
  if (!fd) return null;
  const leader = leaderOf(h, read);
  if (leader === "alive" || leader === "zombie") return fd;
  fd.close();
  return null;
}
