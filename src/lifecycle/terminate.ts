import { signalNumber, type StopSignalName } from "../base/exit-status.ts";
import { assertSignalableGroup, killResult } from "../handle/probes.ts";
import type { Pidfd } from "../sys/pidfd.ts";

/** The seed project's grace: long enough for a CLI to flush, short enough to feel instant. */
export const DEFAULT_GRACE_MS = 300;
/** After SIGKILL only uninterruptible sleep can delay death; past this the group is "stuck". */
export const CONFIRM_MS = 2000;
/** First poll interval; it doubles up to MAX_POLL_MS so a quick exit is seen within a millisecond or two. */
const FIRST_POLL_MS = 1;
const MAX_POLL_MS = 10;

export type TerminateOutcome =
  /** Ended after the stop signal (SIGTERM unless asked otherwise), within the grace. */
  | "exited"
  /** Needed SIGKILL, and is now gone. */
  | "killed"
  /** Still there after SIGKILL (uninterruptible sleep, a frozen cgroup): nothing was confirmed. */
  | "stuck"
  /** Had already ended: no TERM was needed. */
  | "gone"
  /** The kernel refused the signal (EPERM): the group now belongs to someone we may not signal. */
  | "denied";

export interface TerminateResult {
  outcome: TerminateOutcome;
  elapsedMs: number;
  forced: boolean;
}

/**
 * "alive": a live process of the group is provably ours. "ended": nothing of ours runs, but the
 * number may still be held by our zombie leader or leftovers, so a final KILL is safe.
 * "foreign": the number now belongs to another process: never signal it again.
 */
export type GroupCheck = "alive" | "ended" | "foreign";

export interface TerminateDeps {
  /** Re-verifies ownership; called immediately before every signal. */
  check(): GroupCheck;
  /** Sends `sig` to group -pgid: "ok", "gone" (ESRCH) or "eperm". */
  signal(pgid: number, sig: StopSignalName | "SIGKILL"): "ok" | "gone" | "eperm";
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realSignal: TerminateDeps["signal"] = (pgid, sig) => {
  assertSignalableGroup(pgid);
  return killResult(() => process.kill(-pgid, sig));
};

/**
 * Group signals through the leader's pidfd (PIDFD_SIGNAL_PROCESS_GROUP): they reach the group of
 * the very process that was verified, even if it exits and its number is reused meanwhile. On a
 * kernel without the flag (before 6.9), kill(-pgid) after the caller's ownership check.
 */
export function leaderSignal(leader: Pidfd): TerminateDeps["signal"] {
  return (pgid, sig) => {
    assertSignalableGroup(pgid);
    const r = leader.signal(signalNumber(sig)!, true);
    return r === "unsupported" ? realSignal(pgid, sig) : r;
  };
}

/** A sleep that ends as soon as the leader exits (poll on its pidfd), so a kill sees the end at once. */
export function leaderSleep(leader: Pidfd): TerminateDeps["sleep"] {
  let exited = false;
  return async (ms) => {
    if (!exited) exited = leader.waitExit(ms);
    else await Bun.sleep(ms);
  };
}

async function pollUntilEnded(deps: TerminateDeps, deadline: number): Promise<boolean> {
  let wait = FIRST_POLL_MS;
  while (deps.check() === "alive") {
    const left = deadline - deps.now();
    if (left <= 0) return false;
    await deps.sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, MAX_POLL_MS);
  }
  return true;
}

/** KILLs whatever still holds the number after the leader ended, if the number is still ours. */
function killLeftovers(pgid: number, deps: TerminateDeps): void {
  if (deps.check() !== "foreign") deps.signal(pgid, "SIGKILL");
}

/**
 * The kill sequence: the stop signal (`opts.signal`, SIGTERM by default) to the group, poll until
 * it has ended or `graceMs` passes, SIGKILL
 * what is left, and confirm the end within `confirmMs`. Returns an outcome instead of throwing;
 * ESRCH at any point means "already gone". Ownership is re-checked before every signal.
 * Once the leader (the wrapper, alive exactly as long as its agent) has ended, helpers that
 * ignored TERM may linger in its group; they get SIGKILL at once.
 */
export async function terminateGroup(
  pgid: number,
  opts: { graceMs: number; confirmMs?: number; signal?: StopSignalName },
  deps: TerminateDeps,
): Promise<TerminateResult> {
  const start = deps.now();
  const result = (outcome: TerminateOutcome, forced = false): TerminateResult => ({ outcome, elapsedMs: deps.now() - start, forced });
  assertSignalableGroup(pgid);
  const first = deps.check();
  if (first === "foreign") return result("gone");
  if (first === "ended") {
    killLeftovers(pgid, deps);
    return result("gone");
  }
  const term = deps.signal(pgid, opts.signal ?? "SIGTERM");
  if (term === "gone") return result("gone");
  if (term === "eperm") return result("denied");
  if (await pollUntilEnded(deps, start + opts.graceMs)) {
    killLeftovers(pgid, deps);
    return result("exited");
  }
  if (deps.check() !== "alive") return result("exited");
  const kill = deps.signal(pgid, "SIGKILL");
  if (kill === "gone") return result("killed", true);
  if (kill === "eperm") return result("denied", true);
  const ended = await pollUntilEnded(deps, deps.now() + (opts.confirmMs ?? CONFIRM_MS));
  return result(ended ? "killed" : "stuck", true);
}
