import { describe, expect, test } from "bun:test";
import type { ExitStatus } from "../../src/base/exit-status.ts";
import { backoffDelay, decideRestart, type RestartPolicy, STABLE_RUN_MS } from "../../src/supervise/restart.ts";

const policy = (restart: RestartPolicy["restart"], maxRestarts = 3): RestartPolicy => ({ restart, maxRestarts, backoff: { initialMs: 100, maxMs: 1000 } });
const failed: ExitStatus = { exitCode: 1, signal: null };
const ok: ExitStatus = { exitCode: 0, signal: null };
const killed: ExitStatus = { exitCode: null, signal: "SIGKILL" };

describe("restart decisions", () => {
  test("'no' never restarts; 'on-failure' only on failure; 'always' on any end", () => {
    const d = (p: RestartPolicy, status: typeof ok) => decideRestart({ policy: p, status, ranForMs: 5, attempt: 0, stopping: false, random: () => 1 }).action;
    expect([d(policy("no"), failed), d(policy("no"), ok)]).toEqual(["done", "done"]);
    expect([d(policy("on-failure"), failed), d(policy("on-failure"), killed), d(policy("on-failure"), ok)]).toEqual(["restart", "restart", "done"]);
    expect([d(policy("always"), failed), d(policy("always"), ok)]).toEqual(["restart", "restart"]);
  });

  test("a stop never restarts", () => {
    expect(decideRestart({ policy: policy("always"), status: killed, ranForMs: 5, attempt: 0, stopping: true }).action).toBe("done");
  });

  test("gives up after max_restarts in a row, on a fake clock of quick failures", () => {
    let attempt = 0;
    const delays: number[] = [];
    for (;;) {
      const d = decideRestart({ policy: policy("on-failure", 3), status: failed, ranForMs: 50, attempt, stopping: false, random: () => 1 });
      if (d.action !== "restart") {
        expect(d).toEqual({ action: "give-up", attempt: 3 });
        break;
      }
      delays.push(d.delayMs);
      attempt = d.attempt;
    }
    expect(delays).toEqual([100, 200, 400]);
  });

  test("a stable run resets the count and the back-off", () => {
    const d = decideRestart({ policy: policy("on-failure", 3), status: failed, ranForMs: STABLE_RUN_MS, attempt: 3, stopping: false, random: () => 1 });
    expect(d).toEqual({ action: "restart", delayMs: 100, attempt: 1 });
  });

  test("back-off is exponential, capped, and jittered into its upper half", () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10, 100].map((n) => backoffDelay(b, n, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    for (let i = 0; i < 1000; i++) {
      const r = (i * 7919) % 1000 / 1000;
      const n = i % 12;
      const full = Math.min(1000, 100 * 2 ** n);
      const d = backoffDelay(b, n, () => r);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    }
  });
});
