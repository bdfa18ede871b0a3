import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, fixture, isDeadOrZombie, kraal, readyPid, spawnOk, track, useTempState, waitUntil } from "../helpers.ts";

// kraal stop/start/restart/kill of agents under a running `kraal up` (through its control
// socket), of spawned agents (from their saved spec), and kill --all while up runs.

const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const psJson = (...a: string[]) => JSON.parse(run("ps", "--json", ...a).stdout) as Record<string, any>[];
const row = (id: string) => psJson().find((x) => x.id === id);
const history = () => readFileSync(join(t.dir, "state", "history.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));

function config(text: string): void {
  writeFileSync(join(t.dir, "kraal.toml"), text);
}

/** `kraal up` in the background, in its own group; its output is collected as it comes. */
function startUp(args: string[] = []) {
  const p = Bun.spawn([BIN, "up", ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
  track(p.pid);
  let out = "";
  const reading = (async () => {
    for await (const chunk of p.stdout as ReadableStream<Uint8Array>) out += Buffer.from(chunk).toString();
  })();
  return { proc: p, output: () => out, done: async () => (await reading, out), stderr: new Response(p.stderr).text() };
}

/** An agent of kraal.toml running forever.sh, writing its pid to <dir>/<id> (removed first, so a restart is seen). */
const agent = (id: string, extra = "") => `[agents.${id}]\ncmd = ["${fixture("forever.sh")}", "${join(t.dir, id)}"]\n${extra}`;
const readyAgain = (id: string) => readyPid(join(t.dir, id), 10_000);
const forget = (id: string) => rmSync(join(t.dir, id), { force: true });

describe("control of agents under kraal up", () => {
  test("kill is an explicit stop: not restarted, ps shows stopped, up says so with the signal history records", async () => {
    config(agent("a", 'restart = "always"\nbackoff = "10ms"\n') + agent("b"));
    const up = startUp();
    const [a, b] = [await readyAgain("a"), await readyAgain("b")];
    forget("a");
    const r = run("kill", "a");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^a stopped \(SIGTERM, \d+ms\)\n$/);
    expect(isDeadOrZombie(a)).toBe(true);
    await waitUntil(() => up.output().includes("a | [kraal] stopped (SIGTERM) on request; not restarted until: kraal start a\n"), { timeoutMs: 5000, what: "up to report the stop" });
    expect(row("a")).toMatchObject({ state: "stopped", pgid: null, signal: "SIGTERM", reason: "on request" });
    expect(run("status", "a").code).toBe(3);
    expect(run("ps").stdout).toMatch(/^a +stopped \(on request\) +- /m);
    // No restart, not even with restart = "always": nothing wrote a new pid, and the state stays.
    await Bun.sleep(300);
    expect(() => readFileSync(join(t.dir, "a"))).toThrow();
    expect(row("a")?.state).toBe("stopped");
    expect(history().filter((h) => h.id === "a")).toMatchObject([{ signal: "SIGTERM", exitCode: null, reason: "stopped" }]);
    expect(isDeadOrZombie(b)).toBe(false); // the innocent neighbour runs on
    expect(run("kill", "a")).toMatchObject({ code: 0, stdout: "a already stopped\n" });
    expect(run("down").code).toBe(0);
    expect(await up.proc.exited).toBe(143);
  }, 30_000);

  test("an agent that ignores its stop signal is killed: up, kill and history all say SIGKILL after SIGTERM", async () => {
    config(`[agents.stub]\ncmd = ["${fixture("ignore-term.sh")}", "${join(t.dir, "stub")}"]\nrestart = "always"\n`);
    const up = startUp();
    const pid = await readyAgain("stub");
    const r = run("kill", "stub", "--grace", "200ms");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^stub killed \(SIGKILL after \d+ms\)\n$/);
    expect(isDeadOrZombie(pid)).toBe(true);
    await waitUntil(() => up.output().includes("stub | [kraal] stopped (SIGTERM, then SIGKILL after the grace) on request"), { timeoutMs: 5000, what: "up to report the kill" });
    expect(row("stub")).toMatchObject({ state: "stopped", signal: "SIGKILL" });
    expect(history().filter((h) => h.id === "stub")).toMatchObject([{ signal: "SIGKILL", forced: true }]);
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  }, 30_000);

  test("kill --signal and stop_signal: the signal named is the one sent, and the one up reports", async () => {
    config(`[agents.cli]\ncmd = ["${fixture("int-only.sh")}", "${join(t.dir, "cli")}"]\nstop_signal = "INT"\ngrace = "20s"\n` + agent("plain"));
    const up = startUp();
    await Promise.all([readyAgain("cli"), readyAgain("plain")]);
    // No --signal: up uses the agent's own stop_signal (INT), not TERM, and its 20s grace is not needed.
    const started = performance.now();
    expect(run("stop", "cli").stdout).toMatch(/^cli stopped \(SIGINT, \d+ms\)\n$/);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(run("kill", "plain", "--signal", "HUP").stdout).toMatch(/^plain stopped \(SIGHUP, \d+ms\)\n$/);
    await waitUntil(() => up.output().includes("plain | [kraal] stopped (SIGHUP) on request"), { timeoutMs: 5000, what: "up to report SIGHUP" });
    expect(up.output()).toContain("cli   | [kraal] stopped (exit 0) on request"); // it exited cleanly on SIGINT
    expect(history().map((h) => [h.id, h.signal, h.exitCode]).sort()).toEqual([["cli", null, 0], ["plain", "SIGHUP", null]]);
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  }, 30_000);

  test("stop, then start: a stopped agent resumes in its place with its prefix; a running one is left alone", async () => {
    config(agent("web") + agent("worker-long"));
    const up = startUp();
    const web = await readyAgain("web");
    const worker = await readyAgain("worker-long");
    forget("web");
    expect(run("stop", "web")).toMatchObject({ code: 0 });
    expect(isDeadOrZombie(web)).toBe(true);
    const order = () => psJson().map((x) => x.id);
    const before = order();
    const s = run("start", "web", "worker-long");
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^web started, pgid \d+\nworker-long already running, pgid \d+\n$/);
    const again = await readyAgain("web");
    expect(again).not.toBe(web);
    expect(row("web")).toMatchObject({ state: "running", pgid: Number(/pgid (\d+)/.exec(s.stdout)![1]) });
    expect(order()).toEqual(before);
    expect(isDeadOrZombie(worker)).toBe(false);
    expect(run("start", "web").stdout).toMatch(/^web already running, pgid \d+\n$/);
    expect(run("down").code).toBe(0);
    const out = await up.done();
    expect(out.match(/^web {9}\| \[kraal\] started \(pgid \d+\)$/gm)).toHaveLength(2); // the same padded prefix both times
  }, 30_000);

  test("stop of an agent with no process (backing off, waiting for its dependencies) is shown and said at once, and start runs it", async () => {
    const flag = join(t.dir, "db-ready");
    config(
      `[agents.flaky]\ncmd = "sleep 0.1; exit 1"\nrestart = "on-failure"\nbackoff = "20s"\n` +
        agent("db", `ready = "test -f ${flag}"\n`) +
        agent("api", `depends_on = ["db"]\n`),
    );
    const up = startUp();
    await readyAgain("db");
    await waitUntil(() => row("flaky")?.state === "backoff" && row("api")?.state === "waiting", { timeoutMs: 10_000, what: "flaky backing off, api waiting" });
    const r = run("stop", "flaky", "api");
    expect(r).toMatchObject({ code: 0, stdout: "flaky stopped (it was backoff: no process to signal)\napi stopped (it was waiting: no process to signal)\n" });
    // Not "backoff" or "waiting" until it would have started: stopped, now.
    expect(row("flaky")).toMatchObject({ state: "stopped", pgid: null });
    expect(row("api")).toMatchObject({ state: "stopped", pgid: null });
    await waitUntil(() => up.output().includes("api   | [kraal] stopped on request while waiting (no process to signal); not restarted until: kraal start api\n"), { timeoutMs: 5000, what: "up to report api's stop" });
    expect(up.output()).toContain("flaky | [kraal] stopped on request while backoff (no process to signal); not restarted until: kraal start flaky\n");
    // Its dependency getting ready does not start a stopped agent.
    writeFileSync(flag, "");
    await waitUntil(() => row("db")?.state === "running", { timeoutMs: 10_000, what: "db to be ready" });
    await Bun.sleep(300);
    expect(row("api")?.state).toBe("stopped");
    expect(() => readFileSync(join(t.dir, "api"))).toThrow();
    expect(run("start", "api").stdout).toMatch(/^api started, pgid \d+\n$/);
    await readyAgain("api");
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  }, 30_000);

  test("start of a failed agent (gave up after max_restarts) runs it again", async () => {
    const flag = join(t.dir, "fixed");
    config(`[agents.flaky]\ncmd = "test -f ${flag} && exec ${fixture("forever.sh")} ${join(t.dir, "flaky")}; exit 1"\nrestart = "on-failure"\nmax_restarts = 1\nbackoff = "10ms"\n` + agent("keeper"));
    const up = startUp();
    await readyAgain("keeper");
    await waitUntil(() => row("flaky")?.state === "failed", { timeoutMs: 10_000, what: "flaky to be given up on" });
    writeFileSync(flag, "");
    const s = run("start", "flaky");
    expect(s).toMatchObject({ code: 0 });
    expect(s.stdout).toMatch(/^flaky started, pgid \d+\n$/);
    await readyAgain("flaky");
    expect(row("flaky")).toMatchObject({ state: "running" });
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  }, 30_000);

  test("restart stops and starts in place, with the same prefix; KRAAL_AGENT_ID is kept", async () => {
    config(`[agents.svc]\ncmd = "echo id=$KRAAL_AGENT_ID; exec ${fixture("forever.sh")} ${join(t.dir, "svc")}"\n` + agent("other-agent"));
    const up = startUp();
    const first = await readyAgain("svc");
    await readyAgain("other-agent");
    forget("svc");
    const r = run("restart", "svc");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^svc restarted, pgid \d+\n$/);
    const second = await readyAgain("svc");
    expect(second).not.toBe(first);
    expect(isDeadOrZombie(first)).toBe(true);
    expect(row("svc")).toMatchObject({ state: "running" });
    expect(run("down").code).toBe(0);
    const out = await up.done();
    expect(out).toContain("svc         | [kraal] stopped (SIGTERM) for a restart\n");
    expect(out.match(/^svc {9}\| id=svc$/gm)).toHaveLength(2);
    expect(out).not.toContain("not restarted until");
  }, 30_000);

  test("kill --all while up runs stops up and every agent, and nothing is restarted", async () => {
    config(agent("one", 'restart = "always"\n') + agent("two", 'restart = "always"\n'));
    const up = startUp();
    const pids = [await readyAgain("one"), await readyAgain("two")];
    const spawned = spawnOk(t, "loose", ["sleep", "1000"]);
    const r = run("kill", "--all");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`stopped kraal up (pid ${up.proc.pid}) and its agents\n`);
    expect(r.stdout).toMatch(/^loose stopped \(SIGTERM, \d+ms\)$/m);
    expect(await up.proc.exited).toBe(143);
    for (const pid of pids) expect(isDeadOrZombie(pid)).toBe(true);
    expect(isDeadOrZombie(spawned)).toBe(true);
    expect(psJson()).toEqual([]);
    const out = await up.done();
    expect(out).toMatch(/\[kraal\] kraal kill --all from pid \d+: stopping 2 agents/);
    expect(out).not.toContain("restarting");
  }, 30_000);

  test("errors: an unknown id, an agent of an up that is not running, and no id at all, each one line with its exit code", async () => {
    config(agent("solo"));
    const up = startUp();
    await readyAgain("solo");
    for (const cmd of ["stop", "start", "restart", "kill"]) {
      const r = run(cmd, "nope");
      expect(r).toMatchObject({ code: 1, stdout: "", stderr: 'kraal: error: no agent named "nope"\n  list agents with: kraal ps -a\n' });
    }
    // A mix: the known agent is handled, the unknown one reported, and the status is the failure's.
    const mixed = run("stop", "solo", "nope");
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toMatch(/^solo stopped \(SIGTERM, \d+ms\)\n$/);
    expect(run("down").code).toBe(0);
    await up.proc.exited;
    for (const cmd of ["start", "restart"]) {
      const r = run(cmd, "solo");
      expect(r).toMatchObject({ code: 1, stdout: "", stderr: `kraal: error: cannot ${cmd} "solo": it is an agent of kraal up, and no kraal up is running here\n  start it with: kraal up solo\n` });
    }
    for (const cmd of ["stop", "start", "restart"]) {
      const r = run(cmd);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(/^kraal: error: which agents\?/);
    }
    expect(run("restart", "solo", "--signal", "BOGUS")).toMatchObject({ code: 2, stderr: 'kraal: error: --signal "BOGUS": expected one of TERM, INT, HUP, QUIT, USR1, USR2\n' });
  }, 30_000);

  test("an up that cannot be reached is reported in one line, exit 1", async () => {
    config(agent("held"));
    const up = startUp();
    await readyAgain("held");
    rmSync(join(t.dir, "state", "supervisor.sock")); // up is alive (its record verifies) but cannot be reached
    const r = run("stop", "held");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kraal: error: cannot reach kraal up through .*supervisor\.sock: .*\n  is kraal up still running\? see: kraal ps\n$/);
    up.proc.kill("SIGINT");
    await up.proc.exited;
  }, 30_000);
});

describe("restart and start of spawned agents", () => {
  /** A spawned agent that records its argv, cwd and environment, then runs until stopped. */
  function spawnRecorder(id: string) {
    const out = join(t.dir, `${id}.seen`);
    const script = `printf '%s|' "$0" "$1" "$(pwd)" "$MODEL" "$KRAAL_AGENT_ID" > ${out}.tmp; mv ${out}.tmp ${out}; exec sleep 1000`;
    const cwd = join(t.dir);
    const pgid = spawnOk(t, id, ["sh", "-c", script, "zero", "one two"], ["--cwd", cwd, "--env", "MODEL=small"]);
    return { out, pgid, cwd };
  }
  const seen = (path: string) => waitUntil(() => { try { return readFileSync(path, "utf8"); } catch { return ""; } }, { timeoutMs: 10_000, what: path });

  test("restart starts it again with the same argv, cwd and env, in a new group", async () => {
    const { out, pgid, cwd } = spawnRecorder("rec");
    const first = await seen(out);
    expect(first).toBe(`zero|one two|${cwd}|small|rec|`);
    rmSync(out);
    // A different environment in the shell that restarts it must not leak in.
    const r = kraal(["restart", "rec"], { env: { ...t.env, MODEL: "large" }, cwd: "/" });
    expect(r.code).toBe(0);
    const m = /^rec restarted, pgid (\d+)\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const again = track(Number(m![1]));
    expect(again).not.toBe(pgid);
    expect(isDeadOrZombie(pgid)).toBe(true);
    expect(await seen(out)).toBe(first);
    expect(JSON.parse(run("status", "rec", "--json").stdout)).toMatchObject({ state: "running", pgid: again, argv: ["sh", "-c", expect.any(String), "zero", "one two"], cwd });
  }, 30_000);

  test("start runs a killed spawned agent again the same way; a running one is left alone", async () => {
    const { out, pgid } = spawnRecorder("back");
    const first = await seen(out);
    expect(run("start", "back")).toMatchObject({ code: 0, stdout: `back already running, pgid ${pgid}\n` });
    expect(run("kill", "back").code).toBe(0);
    rmSync(out);
    const r = run("start", "back", "--json");
    expect(r.code).toBe(0);
    const [rep] = JSON.parse(r.stdout);
    track(rep.pgid);
    expect(rep).toMatchObject({ id: "back", result: "started" });
    expect(await seen(out)).toBe(first);
  }, 30_000);

  test("an agent started by kraal run has no saved spec: start says how to start it", () => {
    expect(run("run", "--name", "once", "--", "true").code).toBe(0);
    const r = run("start", "once");
    expect(r).toMatchObject({ code: 1, stderr: 'kraal: error: cannot start "once": kraal has no record of how it was started (only kraal spawn keeps one)\n  start it again with: kraal spawn once -- CMD\n' });
  }, 15_000);
});
