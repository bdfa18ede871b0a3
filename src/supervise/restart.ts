import type { ExitStatus } from "../base/exit-status.ts";

export type RestartWhen = "no" | "on-failure" | "always";

export interface RestartPolicy {
  restart: RestartWhen;
  /** Restarts allowed in a row (without a stable run between them) before giving up. */
  maxRestarts: number;
  backoff: { initialMs: number; maxMs: number };
}

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };
/** A run at least this long resets the back-off and the consecutive-restart count. */
export const STABLE_RUN_MS = 10_000;

export type RestartDecision =
  | { action: "restart"; delayMs: number; attempt: number }
  | { action: "done" }
  | { action: "give-up"; attempt: number };

/**
 * Should an agent that just ended be started again, and after how long? A pure function of the
 * policy, how it ended, how long it ran and the consecutive restarts so far (`attempt`).
 * - "no" never restarts; "on-failure" restarts unless it exited 0; "always" restarts in any case.
 * - A stop (Ctrl-C, down) never restarts.
 * - After `maxRestarts` restarts in a row it gives up ("failed"); a run of STABLE_RUN_MS or more
 *   starts the count, and the back-off, afresh.
 * - The delay is exponential (initial × 2^n) capped at max, with "equal jitter": uniformly in
 *   [delay/2, delay], so a crowd of agents failing together does not restart in lockstep.
 */
export function decideRestart(input: {
  policy: RestartPolicy;
  status: ExitStatus;
  ranForMs: number;
  attempt: number;
  stopping: boolean;
  random?: () => number;
}): RestartDecision {
  const { policy, status } = input;
  if (input.stopping || policy.restart === "no") return { action: "done" };
  const succeeded = status.exitCode === 0;
  if (policy.restart === "on-failure" && succeeded) return { action: "done" };
  const attempt = input.ranForMs >= STABLE_RUN_MS ? 0 : input.attempt;
  if (attempt >= policy.maxRestarts) return { action: "give-up", attempt };
  return { action: "restart", delayMs: backoffDelay(policy.backoff, attempt, input.random ?? Math.random), attempt: attempt + 1 };
}

/** The n-th delay (n from 0): min(max, initial × 2^n), jittered into its upper half. */
export function backoffDelay(b: RestartPolicy["backoff"], n: number, random: () => number): number {
  const full = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(n, 40));
  return Math.round(full / 2 + (full / 2) * random());
}
