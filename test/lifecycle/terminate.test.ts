import { describe, expect, test } from "bun:test";
import { type GroupCheck, terminateGroup, type TerminateDeps } from "../../src/lifecycle/terminate.ts";

/** A virtual-time world: a group that ends `diesAfterTermMs` after TERM (or never), and a log of signals. */
function world(o: { diesAfterTermMs?: number; survivesKill?: boolean; initially?: GroupCheck; foreignAfterEnd?: boolean }) {
  let t = 0;
  let termAt: number | null = null;
  let killed = false;
  const signals: string[] = [];
  const deps: TerminateDeps = {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    check: () => {
      if (o.initially && o.initially !== "alive") return o.initially;
      const ended = (killed && !o.survivesKill) || (termAt !== null && o.diesAfterTermMs !== undefined && t - termAt >= o.diesAfterTermMs);
      return ended ? (o.foreignAfterEnd ? "foreign" : "ended") : "alive";
    },
    signal: (_pgid, sig) => {
      signals.push(`${sig}@${t}`);
      if (sig === "SIGTERM") termAt = t;
      if (sig === "SIGKILL") killed = true;
      return "ok";
    },
  };
  return { deps, signals };
}

describe("the kill sequence", () => {
  test("a signal the kernel refuses (EPERM) is reported as denied, never as stuck", async () => {
    for (const refuse of ["SIGTERM", "SIGKILL"]) {
      const w = world({});
      const send = w.deps.signal;
      w.deps.signal = (pgid, sig) => (sig === refuse ? "eperm" : send(pgid, sig));
      const r = await terminateGroup(4242, { graceMs: 20, confirmMs: 20 }, w.deps);
      expect(r.outcome).toBe("denied");
    }
  }, 5_000);

  test("a TERM-respecting group ends well inside the grace; leftovers get KILL at once", async () => {
    const w = world({ diesAfterTermMs: 20 });
    const r = await terminateGroup(4242, { graceMs: 300 }, w.deps);
    expect(r).toMatchObject({ outcome: "exited", forced: false });
    expect(r.elapsedMs).toBeLessThan(50);
    expect(w.signals[0]).toBe("SIGTERM@0");
    expect(w.signals[1]).toStartWith("SIGKILL@");
  });

  test("a TERM-ignoring group is killed when the grace runs out, not before", async () => {
    const w = world({});
    const r = await terminateGroup(4242, { graceMs: 300 }, w.deps);
    expect(r).toMatchObject({ outcome: "killed", forced: true });
    expect(w.signals).toEqual(["SIGTERM@0", "SIGKILL@300"]);
  });

  test("a group that survives KILL is reported stuck after the confirm window", async () => {
    const w = world({ survivesKill: true });
    const r = await terminateGroup(4242, { graceMs: 100, confirmMs: 500 }, w.deps);
    expect(r).toMatchObject({ outcome: "stuck", forced: true });
    expect(r.elapsedMs).toBe(600);
  });

  test("an already-ended group gets no TERM", async () => {
    const w = world({ initially: "ended" });
    expect((await terminateGroup(4242, { graceMs: 300 }, w.deps)).outcome).toBe("gone");
    expect(w.signals.filter((s) => s.startsWith("SIGTERM"))).toEqual([]);
  });

  test("a number that now belongs to someone else is never signaled", async () => {
    const w = world({ initially: "foreign" });
    expect((await terminateGroup(4242, { graceMs: 300 }, w.deps)).outcome).toBe("gone");
    expect(w.signals).toEqual([]);
    const w2 = world({ diesAfterTermMs: 10, foreignAfterEnd: true });
    await terminateGroup(4242, { graceMs: 300 }, w2.deps);
    expect(w2.signals).toEqual(["SIGTERM@0"]); // no leftover KILL once the number is not ours
  });

  test("refuses pgid 1, 0 and negatives before any check", async () => {
    for (const bad of [1, 0, -3]) {
      const w = world({});
      await expect(terminateGroup(bad, { graceMs: 10 }, w.deps)).rejects.toThrow("refusing");
      expect(w.signals).toEqual([]);
    }
  });
});
