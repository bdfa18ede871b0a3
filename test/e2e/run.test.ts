import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, fixture, isDeadOrZombie, readyPid, track, waitUntil, useTempState } from "../helpers.ts";

const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });

/** Starts `kraal run` in the background (its own group, so a test can signal it alone). */
function startRun(args: string[]) {
  const p = Bun.spawn([BIN, "run", ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
  track(p.pid);
  const stderr = new Response(p.stderr).text();
  return { proc: p, stderr };
}

describe("kraal run: exit status", () => {
  test("passes the command's own code through, and its output", () => {
    const r = run("run", "--", fixture("exit-with.sh"), "42");
    expect(r.code).toBe(42);
    expect(r.stdout).toBe("out: exiting with 42\n");
    expect(r.stderr).toBe("err: to stderr\n");
    expect(run("run", "--", "true").code).toBe(0);
  });

  test("128+N when the command dies of signal N", () => {
    expect(run("run", "--", fixture("exit-with.sh"), "0", "USR1").code).toBe(138);
    expect(run("run", "--", fixture("exit-with.sh"), "0", "KILL").code).toBe(137);
  });

  test("an agent that sends its wrapper SIGALRM (the watcher's 'kraal died' note) still gets its own status back, at once", () => {
    const t0 = performance.now();
    const r = Bun.spawnSync([BIN, "run", "--", "sh", "-c", "kill -ALRM $PPID; sleep 0.1; exit 3"], { env: t.env, cwd: t.dir, timeout: 10_000 });
    expect(r.exitCode).toBe(3);
    expect(performance.now() - t0).toBeLessThan(5000); // not a hang until a timeout
  });

  test("127 when the command is not found, 126 when it cannot be executed, 125 when kraal fails", () => {
    const nf = run("run", "--", "no-such-command-xyz");
    expect(nf.code).toBe(127);
    expect(nf.stderr).toBe("kraal: error: command not found: no-such-command-xyz\n");
    expect(run("run", "--", join(import.meta.dir, "../helpers.ts")).code).toBe(126);
    expect(run("run").code).toBe(125);
    expect(run("run", "--timeout", "soon", "--", "true").code).toBe(125);
  });

  test("the run is visible to kraal ps from another shell while it runs, then in history", async () => {
    const r = startRun(["--name", "ci-step", "--", fixture("forever.sh"), join(t.dir, "ready")]);
    await readyPid(join(t.dir, "ready"));
    const rows = JSON.parse(run("ps", "--json").stdout);
    expect(rows).toEqual([expect.objectContaining({ id: "ci-step", state: "running" })]);
    r.proc.kill("SIGTERM");
    expect(await r.proc.exited).toBe(143);
    expect(JSON.parse(run("ps", "-a", "--json").stdout)).toEqual([expect.objectContaining({ id: "ci-step", state: "exited" })]);
  });
});

describe("kraal run: nothing outlives the step", () => {
  test("a background process left behind is ended, and the user is told", async () => {
    const gc = join(t.dir, "gc");
    const r = run("run", "--", fixture("grandchild.sh"), gc, "exit");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/left processes running in its c?group; ended them \(SIGKILL after the grace\)/);
    expect(isDeadOrZombie(Number(readFileSync(gc, "utf8")))).toBe(true);
  });

  test("a clean command gets no warning", () => {
    expect(run("run", "--", "true").stderr).toBe("");
  });

  test("--timeout stops the command (TERM, grace, KILL) and exits 124", () => {
    const started = performance.now();
    const r = run("run", "--timeout", "200ms", "--grace", "100ms", "--", fixture("ignore-term.sh"), join(t.dir, "r"));
    expect(r.code).toBe(124);
    expect(r.stderr).toContain("timed out after 200ms");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(isDeadOrZombie(Number(readFileSync(join(t.dir, "r"), "utf8")))).toBe(true);
  });
});

describe("kraal run: signals", () => {
  for (const [sig, status] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    test(`${sig} is forwarded to the whole group, then kraal exits ${status}`, async () => {
      const r = startRun(["--", fixture("grandchild.sh"), join(t.dir, "gc")]);
      const grandchild = await readyPid(join(t.dir, "gc"));
      r.proc.kill(sig);
      expect(await r.proc.exited).toBe(status);
      expect(isDeadOrZombie(grandchild)).toBe(true); // it ignored the signal: KILL after the grace got it
    });
  }

  test("a second SIGINT skips the grace", async () => {
    const r = startRun(["--grace", "20s", "--", fixture("ignore-term.sh"), join(t.dir, "r")]);
    const pid = await readyPid(join(t.dir, "r"));
    const started = performance.now();
    r.proc.kill("SIGINT");
    await Bun.sleep(20);
    r.proc.kill("SIGINT");
    expect(await r.proc.exited).toBe(130);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(isDeadOrZombie(pid)).toBe(true);
  });

  test("if kraal itself is SIGKILLed, the group still dies within about a second", async () => {
    const r = startRun(["--", fixture("grandchild.sh"), join(t.dir, "gc")]);
    const grandchild = await readyPid(join(t.dir, "gc"));
    const killedAt = performance.now();
    r.proc.kill("SIGKILL");
    await waitUntil(() => isDeadOrZombie(grandchild), { timeoutMs: 1500, what: "the group to die with its supervisor" });
    expect(performance.now() - killedAt).toBeLessThan(1500);
    // The next command sweeps the dead run's handle into history.
    await waitUntil(() => JSON.parse(run("ps", "--json").stdout).length === 0, { timeoutMs: 5000 });
    expect(existsSync(join(t.layout.pids, `run-${r.proc.pid}`))).toBe(false);
  });
});
