import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { serializeHandle } from "../../src/handle/handle.ts";
import { ensureLayout } from "../../src/handle/state.ts";
import { readStat } from "../../src/handle/probes.ts";
import { join } from "node:path";
import { BIN, kraal, kraalAsync, fixture, isDeadOrZombie, isRunning, sampleHandle, readyPid, spawnOk, track, waitUntil, useTempState } from "../helpers.ts";

/** Issue #8 section 2: no agent ever runs untracked. */
const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const psJson = (...a: string[]) => JSON.parse(run("ps", "--json", ...a).stdout) as Record<string, any>[];

/** About 1 MiB of arguments: eight of 127 KiB each (Linux limits one argument to 128 KiB). */
const longArgs = () => Array.from({ length: 8 }, (_, i) => `${i}:` + String.fromCharCode(97 + i).repeat(127 * 1024));

describe("long argv: whatever spawn writes, it can read back", () => {
  test("spawn, ps, status, kill and history with ~1 MiB of arguments", () => {
    const args = longArgs();
    const pgid = spawnOk(t, "long", ["sh", "-c", "sleep 1000", "sh", ...args]);
    const rows = psJson();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: "long", state: "running", pgid });
    expect(rows[0]!.argv).toEqual(["sh", "-c", "sleep 1000", "sh", ...args]);
    expect(run("status", "long").code).toBe(0);
    expect(run("sweep").stdout).toBe("0 retired, 0 corrupt, 1 kept\n");
    expect(run("kill", "long")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^long stopped/) });
    expect(existsSync(join(t.layout.pids, "long"))).toBe(false);
    const past = psJson("-a");
    expect(past).toEqual([expect.objectContaining({ id: "long", state: "exited", history: true })]);
    expect(past[0]!.argv).toEqual(["sh", "-c", "sleep 1000", "sh", ...args]);
    expect(run("ps").stdout).toContain("(1 agent finished in the last hour: kraal ps -a)");
  }, 30_000);

  test("kill --all finds a long-argv agent", () => {
    const pgid = spawnOk(t, "long", ["sh", "-c", "sleep 1000", "sh", ...longArgs()]);
    expect(run("kill", "--all")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^long stopped/) });
    expect(isDeadOrZombie(pgid)).toBe(true);
  }, 30_000);

  test("run with ~1 MiB of arguments is visible while it runs and recorded after", async () => {
    const ready = join(t.dir, "ready");
    const p = Bun.spawn([BIN, "run", "--name", "long", "--", fixture("forever.sh"), ready, ...longArgs()], { env: t.env, cwd: t.dir, stdout: "ignore", stderr: "pipe", detached: true });
    track(p.pid);
    await readyPid(ready, 10_000);
    expect(psJson()).toEqual([expect.objectContaining({ id: "long", state: "running" })]);
    expect(run("status", "long").code).toBe(0);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(143);
    expect(psJson("-a")).toEqual([expect.objectContaining({ id: "long", state: "exited" })]);
  }, 30_000);

  test("up with ~1 MiB of arguments", async () => {
    const args = longArgs();
    writeFileSync(join(t.dir, "kraal.toml"), `[agents.long]\ncmd = ${JSON.stringify(["sh", "-c", 'echo "$#"; sleep 1000', "sh", ...args])}\n`);
    const p = Bun.spawn([BIN, "up"], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
    track(p.pid);
    await waitUntil(() => psJson().some((r) => r.id === "long" && r.state === "running" && r.argv.length === 12), { timeoutMs: 10_000, what: "up's long agent" });
    expect(run("status", "long").code).toBe(0);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(143);
    expect(await new Response(p.stdout).text()).toContain("long | 8");
    expect(psJson("-a")).toEqual([expect.objectContaining({ id: "long", state: "exited" })]);
  }, 30_000);
});

describe("long argv under up: its own record stays readable", () => {
  test("eighteen agents with ~1 MiB of arguments each: down finds up and stops it; an agent between runs shows the start of its argv", async () => {
    const args = longArgs();
    const agents = Array.from({ length: 17 }, (_, i) => `[agents.a${i}]\ncmd = ${JSON.stringify(["sh", "-c", "sleep 1000", "sh", ...args])}\n`);
    // One that fails at once and waits an hour to be restarted: only up's record holds its command.
    agents.push(`[agents.later]\ncmd = ${JSON.stringify(["sh", "-c", "exit 1", "sh", ...args])}\nrestart = "on-failure"\nbackoff = "1h"\n`);
    writeFileSync(join(t.dir, "kraal.toml"), agents.join("\n"));
    const p = Bun.spawn([BIN, "up"], { env: t.env, cwd: t.dir, stdout: "ignore", stderr: "pipe", detached: true });
    track(p.pid);
    await waitUntil(() => {
      const rows = psJson();
      return rows.filter((r) => r.state === "running").length === 17 && rows.some((r) => r.id === "later" && r.state === "backoff");
    }, { timeoutMs: 20_000, intervalMs: 200, what: "17 running agents and one in backoff" });
    const later = psJson().find((r) => r.id === "later")!;
    expect(later.argvCut).toBe(true);
    expect(later.argv.slice(0, 4)).toEqual(["sh", "-c", "exit 1", "sh"]);
    expect(Buffer.byteLength(later.argv.join(""))).toBeLessThanOrEqual(4096 + 3);
    expect(later.argv.at(-1)).toEndWith("…");
    expect(psJson().find((r) => r.id === "a0")!.argv).toEqual(["sh", "-c", "sleep 1000", "sh", ...args]); // a handle has it whole
    const down = run("down");
    expect(down).toMatchObject({ code: 0, stdout: `stopped kraal up (pid ${p.pid})\n` });
    expect(await p.exited).toBe(143);
    expect(psJson()).toEqual([]);
  }, 60_000);
});

/** The children of `pid` (a targeted read of the test's own processes). */
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** The wrapper's agent and the agent's child (grandchild.sh's TERM-ignoring sleep), by host pid. */
async function family(wrapper: number): Promise<{ agent: number; grandchild: number }> {
  const agent = await waitUntil(() => childrenOf(wrapper)[0], { timeoutMs: 10_000, what: "the agent" });
  const grandchild = await waitUntil(() => childrenOf(agent)[0], { timeoutMs: 10_000, what: "the grandchild" });
  return { agent, grandchild };
}

const readIfThere = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

describe("a wrapper killed alone (kill -KILL <pgid>, the OOM killer)", () => {
  test.skipIf(!Bun.which("tini"))("with a prompt reaper (tini -s): kill ends the agent and its children and records 'wrapper killed'", async () => {
    const out = join(t.dir, "spawned");
    const reaper = Bun.spawn(["tini", "-s", "--", "sh", "-c", `echo $$ > "$3.sh"; "$0" spawn w --json -- "$1" "$2" > "$3"; exec sleep 1000`, BIN, fixture("grandchild.sh"), join(t.dir, "gc"), out], { env: t.env, cwd: t.dir, detached: true, stdio: ["ignore", "ignore", "ignore"] });
    track(reaper.pid);
    // tini runs its child in a group of its own: that group goes too, or its sleep would outlive the test.
    track(Number(await waitUntil(() => readIfThere(`${out}.sh`).trim(), { timeoutMs: 10_000, what: "tini's child" })));
    const pgid = track(JSON.parse(await waitUntil(() => readIfThere(out), { timeoutMs: 10_000, what: "spawn" })).pgid);
    const { agent, grandchild } = await family(pgid);
    // Once kraal spawn has exited, tini, the subreaper, is the wrapper's parent.
    await waitUntil(() => childrenOf(reaper.pid).includes(pgid), { timeoutMs: 10_000, what: "tini to adopt the wrapper" });
    process.kill(pgid, "SIGKILL");
    await waitUntil(() => readStat(pgid) === null, { timeoutMs: 10_000, what: "tini to reap the wrapper" });
    expect(isRunning(agent)).toBe(true);

    const kill = run("kill", "w");
    expect(kill).toMatchObject({ code: 0, stdout: "w killed (its wrapper had been killed alone; SIGKILL to its group)\n" });
    await waitUntil(() => isDeadOrZombie(agent) && isDeadOrZombie(grandchild), { timeoutMs: 10_000, what: "the agent and its child to die" });
    expect(psJson("-a")).toEqual([expect.objectContaining({ id: "w", state: "exited", reason: "wrapper killed", signal: "SIGKILL" })]);
    const status = run("status", "w");
    expect(status.code).toBe(3);
    expect(status.stdout).toContain("exited (wrapper killed)");
  }, 30_000);

  test("with no reaper (a PID 1 that never waits): any command's sweep ends the agent behind the zombie", async () => {
    const out = join(t.dir, "spawned");
    // unshare forks; its child is PID 1 of a new pid namespace, runs `kraal spawn`, and never reaps anything else.
    const ns = Bun.spawn(["unshare", "--pid", "--fork", "--mount-proc", "python3", "-c", "import os,subprocess,sys,time\nsubprocess.run(sys.argv[2:])\nos.rename(sys.argv[1] + '.tmp', sys.argv[1])\ntime.sleep(1000)", out, "sh", "-c", `"$0" spawn w --json -- "$1" "$2" > "$3.tmp"`, BIN, fixture("grandchild.sh"), join(t.dir, "gc"), out], { env: t.env, cwd: t.dir, detached: true, stdio: ["ignore", "ignore", "ignore"] });
    track(ns.pid);
    const init = await waitUntil(() => childrenOf(ns.pid)[0], { timeoutMs: 10_000, what: "the namespace's PID 1" });
    try {
      await waitUntil(() => readIfThere(out), { timeoutMs: 10_000, what: "spawn" });
      // init has two orphans: the wrapper and the agent's log writer (kraal-log-writer).
      const wrapper = await waitUntil(() => childrenOf(init).find((c) => readIfThere(`/proc/${c}/cmdline`).startsWith("kraal-wrapper")), { timeoutMs: 10_000, what: "the orphaned wrapper" });
      const { agent, grandchild } = await family(wrapper);
      const inside = (...args: string[]) => {
        const r = Bun.spawnSync(["nsenter", "-t", String(init), "-p", "-m", BIN, ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
        return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
      };
      expect(JSON.parse(inside("ps", "--json").stdout)).toEqual([expect.objectContaining({ id: "w", state: "running" })]);
      process.kill(wrapper, "SIGKILL");
      await waitUntil(() => readStat(wrapper)?.state === "Z", { timeoutMs: 10_000, what: "the wrapper's zombie" });
      expect(isRunning(agent)).toBe(true);

      const ps = inside("ps", "--json");
      expect(ps.code).toBe(0);
      expect(JSON.parse(ps.stdout)).toEqual([]);
      await waitUntil(() => isDeadOrZombie(agent) && isDeadOrZombie(grandchild), { timeoutMs: 10_000, what: "the agent and its child to die" });
      expect(JSON.parse(inside("ps", "-a", "--json").stdout)).toEqual([expect.objectContaining({ id: "w", state: "exited", reason: "wrapper killed", signal: "SIGKILL" })]);
      const status = inside("status", "w", "--json");
      expect(status.code).toBe(3);
      expect(JSON.parse(status.stdout)).toMatchObject({ reason: "wrapper killed" });
      expect(inside("kill", "w")).toMatchObject({ code: 0, stdout: "w already exited\n" });
    } finally {
      process.kill(init, "SIGKILL"); // ends everything in the namespace
    }
  }, 30_000);
});

const SECOND_USER = "kraal-t-track";
const isRoot = process.getuid!() === 0 && Bun.which("useradd") !== null && Bun.which("setpriv") !== null;

/** A real second user for the test (created once, removed after the file's tests). */
function secondUser(): { uid: number; gid: number } {
  const id = (flag: string) => Bun.spawnSync(["id", flag, SECOND_USER], { stdout: "pipe", stderr: "ignore" });
  if (id("-u").exitCode !== 0) {
    const r = Bun.spawnSync(["useradd", "-M", "-s", "/usr/sbin/nologin", SECOND_USER], { stderr: "pipe" });
    if (r.exitCode !== 0 && id("-u").exitCode !== 0) throw new Error(`useradd: ${r.stderr}`);
    createdUser = true;
  }
  return { uid: Number(id("-u").stdout.toString()), gid: Number(id("-g").stdout.toString()) };
}
let createdUser = false;
afterAll(() => {
  if (createdUser) Bun.spawnSync(["userdel", SECOND_USER]);
});

describe("denied signals are reported as such", () => {
  test.skipIf(!isRoot)("a handle whose group belongs to another user is foreign, and kill says EPERM", () => {
    const { uid, gid } = secondUser();
    chmodSync(t.dir, 0o755);
    // The innocent: a root process in its own group, named by a handle the second user owns.
    const innocent = Bun.spawn(["sleep", "1000"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
    innocent.unref();
    track(innocent.pid);
    ensureLayout(t.layout);
    const path = join(t.layout.pids, "x");
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(path, serializeHandle(sampleHandle({ id: "x", pgid: innocent.pid, leaderStart: readStat(innocent.pid)!.startTicks, bootId, host: hostname(), uid })));
    Bun.spawnSync(["chown", "-R", `${uid}:${gid}`, t.layout.root]);
    const as = (...args: string[]) => {
      const r = Bun.spawnSync(["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", BIN, ...args], { env: { ...t.env, HOME: t.dir }, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    expect(JSON.parse(as("ps", "--json").stdout)).toEqual([expect.objectContaining({ id: "x", state: "foreign", reason: "group belongs to another user (EPERM)" })]);
    expect(as("status", "x").code).toBe(4);
    const kill = as("kill", "x");
    expect(kill.code).toBe(1);
    expect(kill.stderr).toContain("the kernel refused the signal (EPERM)");
    expect(kill.stderr).not.toContain("did not die");
    expect(as("kill", "--all").code).toBe(0);
    expect(as("sweep").stdout).toBe("0 retired, 0 corrupt, 1 kept\n");
    expect(existsSync(path)).toBe(true);
    expect(isRunning(innocent.pid)).toBe(true);
  }, 30_000);
});

describe("kraal's own process group", () => {
  test("an agent that runs kraal kill --all: its own entry is skipped cleanly, the others are stopped", async () => {
    const other = spawnOk(t, "other", ["sleep", "1000"]);
    const o = join(t.dir, "inner");
    const script = `"$0" ps --json > "$1.ps"; echo $? > "$1.rc"; "$0" status self > /dev/null; echo $? >> "$1.rc"; "$0" kill self 2> "$1.killerr"; echo $? >> "$1.rc"; "$0" kill --all > "$1.out" 2> "$1.err"; echo $? >> "$1.rc"; mv "$1.rc" "$1.done"; exec sleep 1000`;
    const self = spawnOk(t, "self", ["sh", "-c", script, BIN, o]);
    const rcs = (await waitUntil(() => readIfThere(`${o}.done`), { timeoutMs: 20_000, what: "the inner commands" })).trim().split("\n");
    expect(rcs).toEqual(["0", "0", "1", "0"]); // ps, status, kill self (refused), kill --all
    expect(JSON.parse(readFileSync(`${o}.ps`, "utf8"))).toContainEqual(expect.objectContaining({ id: "self", state: "running", reason: "kraal's own process group" }));
    expect(readFileSync(`${o}.killerr`, "utf8")).toBe(`kraal: error: refusing to signal "self": it is kraal's own process group (this kraal runs inside that agent)\n  run it from outside the agent: kraal kill self\n`);
    expect(readFileSync(`${o}.out`, "utf8")).toMatch(/^other stopped/);
    expect(readFileSync(`${o}.err`, "utf8")).toBe("kraal: warning: skipped self: it is kraal's own process group (this kraal runs inside that agent)\n");
    expect(isDeadOrZombie(other)).toBe(true);
    expect(isRunning(self)).toBe(true);
    expect(run("kill", "self")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^self stopped/) });
  }, 30_000);

  test("a handle on kraal's own group whose leader is gone: ps, status and sweep answer, kill refuses", async () => {
    const o = join(t.dir, "inner");
    // setsid's sh leads a new group and exits at once; its background subshell stays in the group and runs kraal.
    const script = `( while [ ! -e "$1.go" ]; do sleep 0.02; done; "$0" ps --json > "$1.ps"; echo $? > "$1.rc"; "$0" status g > /dev/null; echo $? >> "$1.rc"; "$0" sweep > /dev/null; echo $? >> "$1.rc"; "$0" kill g 2> "$1.err"; echo $? >> "$1.rc"; mv "$1.rc" "$1.done" ) & exit 0`;
    const p = Bun.spawn(["setsid", "sh", "-c", script, BIN, o], { env: t.env, cwd: t.dir, stdio: ["ignore", "ignore", "ignore"] });
    const pgid = track(p.pid);
    await p.exited;
    ensureLayout(t.layout);
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(join(t.layout.pids, "g"), serializeHandle(sampleHandle({ id: "g", pgid, leaderStart: 1, bootId, host: hostname(), uid: process.getuid!() })));
    writeFileSync(`${o}.go`, "");
    const rcs = (await waitUntil(() => readIfThere(`${o}.done`), { timeoutMs: 20_000, what: "the inner commands" })).trim().split("\n");
    expect(rcs).toEqual(["0", "0", "0", "1"]);
    expect(JSON.parse(readFileSync(`${o}.ps`, "utf8"))).toEqual([expect.objectContaining({ id: "g", state: "running", reason: "kraal's own process group" })]);
    expect(readFileSync(`${o}.err`, "utf8")).toStartWith(`kraal: error: refusing to signal "g": it is kraal's own process group`);
  }, 30_000);
});

describe("concurrent kills", () => {
  test("two kills of one agent at once: exactly one stops it, the other says it already exited", async () => {
    for (const [i, f] of [fixture("forever.sh"), fixture("ignore-term.sh"), fixture("forever.sh")].entries()) {
      spawnOk(t, `c${i}`, [f, join(t.dir, `r${i}`)]);
      await readyPid(join(t.dir, `r${i}`));
      const both = await Promise.all([0, 1].map(() => kraalAsync(["kill", `c${i}`, "--grace", "200ms"], { env: t.env })));
      expect(both.map((r) => r.code)).toEqual([0, 0]);
      const outs = both.map((r) => r.stdout).sort();
      expect(outs[0]).toBe(`c${i} already exited\n`);
      expect(outs[1]).toMatch(new RegExp(`^c${i} (stopped|killed) `));
    }
  }, 30_000);
});
