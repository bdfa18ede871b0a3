import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isRunning, kraal, spawnOk, useTempState, waitUntil } from "../helpers.ts";

// Another process holds the state lock (flock(1) standing in for a hung kraal): read commands
// still answer, read-only, with a note; writers say what they wait for, then fail with exit 75;
// a kill that ended its agent reports success.
let holder: ReturnType<typeof Bun.spawn> | null = null;
// Registered before useTempState's, so the holder ends before the state directory is removed.
afterEach(() => release());
const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
/** Ends the holder: flock(1) and the sleep it runs (which inherits the locked file), by its group. */
async function release(): Promise<void> {
  if (!holder) return;
  try {
    process.kill(-holder.pid, "SIGKILL");
  } catch {}
  await holder.exited;
  holder = null;
  if (existsSync(t.layout.lock)) await waitUntil(() => Bun.spawnSync(["flock", "-n", t.layout.lock, "true"]).exitCode === 0, { what: "the lock to be free" });
}

/** Holds an exclusive flock on the state lock from another process until released; its pid. */
async function holdLock(): Promise<number> {
  holder = Bun.spawn(["flock", "-x", t.layout.lock, "sleep", "60"], { stdout: "ignore", stderr: "ignore", detached: true });
  // Held once a non-blocking try from here fails.
  await waitUntil(() => Bun.spawnSync(["flock", "-n", t.layout.lock, "true"]).exitCode !== 0, { what: "the lock to be held" });
  return holder.pid;
}

describe.skipIf(!Bun.which("flock"))("a state lock held by another process", () => {
  test("ps and status answer read-only with a note; spawn waits, says for whom, and fails with 75; kill of a running agent succeeds", async () => {
    const pgid = spawnOk(t, "long", ["sleep", "1000"]);
    spawnOk(t, "done", ["sh", "-c", "exit 3"]);
    // Until done is retirable (its wrapper gone too), a sweep has nothing to write.
    await waitUntil(() => (JSON.parse(run("sweep", "--dry-run", "--json").stdout).retired as { id: string }[]).some((r) => r.id === "done"), { what: "done to be retirable" });
    const history = () => (existsSync(t.layout.history) ? readFileSync(t.layout.history, "utf8") : null);
    const before = history();
    const pid = await holdLock();

    const t0 = performance.now();
    const ps = run("ps", "--json");
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(ps.code).toBe(0);
    const rows = JSON.parse(ps.stdout) as { id: string; state: string }[];
    expect(rows.map((r) => [r.id, r.state]).sort()).toEqual([["done", "exited"], ["long", "running"]]);
    expect(ps.stderr).toBe(`kraal: warning: the state directory is busy: the lock ${t.layout.lock} is held by another process; pid ${pid} holds it; answered read-only: finished agents are shown but not moved to history this time\n`);
    const st = run("status", "done");
    expect(st.code).toBe(3);
    expect(st.stderr).toContain("answered read-only");
    expect(run("status", "long").code).toBe(0);
    expect(history()).toBe(before); // nothing was written

    const t1 = performance.now();
    const sp = run("spawn", "new", "--", "sleep", "1001");
    expect(performance.now() - t1).toBeGreaterThan(4500);
    expect(sp.code).toBe(75);
    const lines = sp.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^kraal: waiting for the state lock .* \\(held by pid ${pid}\\), at most \\d s more$`));
    expect(lines[1]).toBe(`kraal: error: the state directory is busy: the lock ${t.layout.lock} is held by another process; pid ${pid} holds it`);
    expect(lines.length).toBe(3); // and a hint
    expect(existsSync(join(t.layout.pids, "new"))).toBe(false);

    // kill does not need the lock to stop an agent: it ends it, says so, and leaves the record for later.
    const k = run("kill", "long", "--json");
    expect(k.code).toBe(0);
    expect(isRunning(pgid)).toBe(false);
    expect(JSON.parse(k.stdout)[0]).toMatchObject({ id: "long", result: "stopped" });
    expect(JSON.parse(k.stdout)[0].unrecorded).toContain("busy");

    await release();
    expect(run("ps", "--json").stderr).toBe("");
    expect(run("ps", "--json").stdout).toBe("[]\n");
    expect(run("spawn", "new", "--", "sleep", "1001").code).toBe(0);
    expect(run("kill", "new").code).toBe(0);
  }, 30_000);

  test("kill --all while the lock is held ends every agent, waits for the lock once, and exits 0", async () => {
    const a = spawnOk(t, "a", ["sleep", "1000"]);
    const b = spawnOk(t, "b", ["sleep", "1000"]);
    spawnOk(t, "c", ["sleep", "1000"]);
    await holdLock();
    const t0 = performance.now();
    const k = run("kill", "--all");
    expect(k.code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(8000); // one wait for the lock, not one per agent
    expect(k.stderr).toContain("waiting for the state lock");
    expect(isRunning(a) || isRunning(b)).toBe(false);
    await release();
    expect(run("ps", "--json").stdout).toBe("[]\n");
  }, 30_000);
});
