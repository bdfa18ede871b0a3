import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { serializeHandle } from "../../src/handle/handle.ts";
import { ensureLayout } from "../../src/handle/state.ts";
import { readStat } from "../../src/handle/probes.ts";
import { canSetPid, kraal, kraalAsync, fixture, isDeadOrZombie, isRunning, readyPid, sampleHandle, spawnOk, spawnWithPid, track, waitUntil, useTempState } from "../helpers.ts";

const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();

/** An innocent bystander: a detached process (its own group) that kraal never started. */
function innocent(): number {
  const p = Bun.spawn(["sleep", "1000"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  p.unref();
  return track(p.pid);
}

/** A handle that names `pgid` as if kraal had started it, with fields overridden. */
function plantHandle(id: string, pgid: number, over: Record<string, unknown> = {}): string {
  ensureLayout(t.layout);
  const st = readStat(pgid);
  const h = sampleHandle({ id, pgid, leaderStart: st?.startTicks ?? 1, bootId: bootId(), host: hostname(), uid: process.getuid!(), ...over });
  const path = join(t.layout.pids, id);
  writeFileSync(path, serializeHandle(h));
  return path;
}

describe("PID reuse, for real", () => {
  test.skipIf(!canSetPid)("a recycled pgid is never signaled: the innocent survives kill, ps and sweep", async () => {
    const pgid = spawnOk(t, "victim", ["sleep", "1000"]);
    const handle = join(t.layout.pids, "victim");
    const saved = join(t.dir, "victim.handle");
    copyFileSync(handle, saved);
    // End the group behind kraal's back; wait until the kernel has freed the number.
    process.kill(-pgid, "SIGKILL");
    await waitUntil(() => {
      try {
        process.kill(-pgid, 0);
        return false;
      } catch {
        return !existsSync(`/proc/${pgid}`);
      }
    }, { timeoutMs: 15000, what: "the old group to be reaped" });
    const reused = await spawnWithPid(pgid);
    expect(reused).toBe(pgid); // an unrelated process now holds the very same pid and pgid

    const kill = run("kill", "victim");
    expect(kill).toMatchObject({ code: 0, stdout: "victim already exited\n" });
    expect(isRunning(pgid)).toBe(true);

    copyFileSync(saved, handle);
    expect(JSON.parse(run("ps", "-a", "--json").stdout)).toContainEqual(expect.objectContaining({ id: "victim", state: "stale", reason: "pid reused" }));
    expect(isRunning(pgid)).toBe(true);

    copyFileSync(saved, handle);
    expect(run("sweep").stdout).toContain("retired victim (stale: pid reused)");
    expect(isRunning(pgid)).toBe(true);
    expect(existsSync(handle)).toBe(false);
  });
});

describe("handles kraal cannot prove are its own", () => {
  test("a legacy bare-pgid handle is unverified: listed, never swept, killed only with --force", () => {
    const pid = innocent();
    ensureLayout(t.layout);
    writeFileSync(join(t.layout.pids, "old"), `${pid}\n`);
    expect(JSON.parse(run("ps", "--json").stdout)).toEqual([expect.objectContaining({ id: "old", state: "unverified", pgid: pid })]);
    run("sweep");
    expect(existsSync(join(t.layout.pids, "old"))).toBe(true);
    const refused = run("kill", "old");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("kill --force old");
    expect(run("kill", "--all").code).toBe(0);
    expect(isRunning(pid)).toBe(true);
    expect(run("kill", "--force", "old").code).toBe(0);
    expect(isDeadOrZombie(pid)).toBe(true);
  });

  test("a handle from another host is left alone and never signaled", () => {
    const pid = innocent();
    const path = plantHandle("remote", pid, { host: "some-other-host" });
    expect(JSON.parse(run("ps", "--json").stdout)).toEqual([expect.objectContaining({ id: "remote", state: "foreign" })]);
    expect(run("sweep").code).toBe(0);
    expect(existsSync(path)).toBe(true);
    expect(run("kill", "remote").code).toBe(1);
    expect(run("kill", "--all").code).toBe(0);
    expect(isRunning(pid)).toBe(true);
    expect(run("spawn", "remote", "--", "true").code).toBe(1);
  });

  test("a handle from an earlier boot is stale: retired to history, nothing signaled", () => {
    const pid = innocent();
    const path = plantHandle("oldboot", pid, { bootId: "00000000-0000-0000-0000-000000000000" });
    expect(run("kill", "oldboot")).toMatchObject({ code: 0, stdout: "oldboot already exited\n" });
    expect(existsSync(path)).toBe(false);
    expect(isRunning(pid)).toBe(true);
    expect(JSON.parse(run("ps", "-a", "--json").stdout)).toEqual([expect.objectContaining({ id: "oldboot", state: "stale", reason: "other boot" })]);
  });

  test("a zombie leader counts as exited although kill(-pgid, 0) still finds it", async () => {
    // A parent that never reaps: its setsid'd child exits and stays a zombie leading its own group.
    const parent = Bun.spawn(["python3", "-c", "import os,time\npid=os.fork()\nif pid==0:\n    os.setsid(); os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)"], { stdout: "pipe" });
    track(parent.pid);
    try {
      const reader = parent.stdout.getReader();
      const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
      await waitUntil(() => readStat(zombie)?.state === "Z", { what: "the zombie" });
      expect(() => process.kill(-zombie, 0)).not.toThrow();
      plantHandle("z", zombie);
      expect(run("status", "z").code).toBe(3);
      expect(run("kill", "z")).toMatchObject({ code: 0, stdout: "z already exited\n" });
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

describe("corrupt entries", () => {
  test("every kind is reported without hanging, never signaled, and quarantined (not deleted) by sweep", () => {
    const pid = innocent();
    ensureLayout(t.layout);
    const p = (n: string) => join(t.layout.pids, n);
    writeFileSync(p("garbage"), "hello world");
    writeFileSync(p("empty"), "");
    writeFileSync(p("range"), "99999999");
    writeFileSync(p("one"), "1");
    writeFileSync(p("negative"), "-5");
    writeFileSync(p("huge"), "9".repeat(200_000));
    writeFileSync(p("half"), JSON.stringify({ v: 1, id: "half", pgid: pid })); // names a live process, but proves nothing
    const good = spawnOk(t, "real", ["sleep", "1000"]);
    symlinkSync(p("real"), p("link"));
    mkdirSync(p("adir"));
    Bun.spawnSync(["mkfifo", p("fifo")]);
    writeFileSync(p("bad%ZZname"), "123");
    writeFileSync(p(".tmp.x.1"), "partial");
    utimesSync(p(".tmp.x.1"), new Date(0), new Date(0));
    writeFileSync(p(".tmp.y.2"), "in progress"); // a fresh temp file is a write in progress: ignored

    const ps = Bun.spawnSync([join(import.meta.dir, "../../dist/kraal"), "ps", "--json"], { env: t.env, timeout: 10_000 });
    expect(ps.exitCode).toBe(0);
    const rows = JSON.parse(ps.stdout.toString()) as { id: string; state: string }[];
    const corrupt = rows.filter((r) => r.state === "corrupt").map((r) => r.id).sort();
    expect(corrupt).toEqual([".tmp.x.1", "adir", "bad%ZZname", "empty", "fifo", "garbage", "half", "huge", "link", "negative", "one", "range"]);
    expect(rows.find((r) => r.id === "real")?.state).toBe("running");

    const sweep = run("sweep");
    expect(sweep.code).toBe(0);
    expect(readdirSync(t.layout.pids).sort()).toEqual([".tmp.y.2", "real"]);
    expect(readdirSync(t.layout.quarantine)).toHaveLength(12);
    expect(isRunning(pid)).toBe(true);
    expect(isRunning(good)).toBe(true);
    expect(existsSync(p("real"))).toBe(true); // the symlink's target was never followed or moved
  });

  test("sweep --dry-run changes nothing", () => {
    ensureLayout(t.layout);
    writeFileSync(join(t.layout.pids, "garbage"), "x");
    plantHandle("gone", 999_999 - 1, { leaderStart: 1 });
    const r = run("sweep", "--dry-run", "--json");
    expect(JSON.parse(r.stdout)).toMatchObject({ retired: [{ id: "gone" }], corrupt: [{ name: "garbage" }] });
    expect(readdirSync(t.layout.pids).sort()).toEqual(["garbage", "gone"]);
  });
});

describe("concurrency", () => {
  test("concurrent spawns of one id race to exactly one winner", async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, () => kraalAsync(["spawn", "same", "--json", "--", "sleep", "1000"], { env: t.env })));
    const winners = runs.filter((r) => r.code === 0);
    expect(winners).toHaveLength(1);
    track(JSON.parse(winners[0]!.stdout).pgid);
    for (const r of runs.filter((r) => r.code !== 0)) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("already running");
    }
    expect(JSON.parse(run("ps", "--json").stdout)).toHaveLength(1);
  });

  test("spawns of different ids in parallel all succeed (the lock is not inherited by agents)", async () => {
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => kraalAsync(["spawn", `p${i}`, "--json", "--", "sleep", "1000"], { env: t.env })));
    for (const r of runs) {
      expect(r.code).toBe(0);
      track(JSON.parse(r.stdout).pgid);
    }
  });
});

describe("an agent never runs untracked", () => {
  test.skipIf(process.getuid!() !== 0)("when the handle cannot be written, spawn fails and the agent never starts", async () => {
    const mnt = join(t.dir, "full");
    mkdirSync(mnt);
    if (Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).exitCode !== 0) return;
    try {
      const state = join(mnt, "state");
      ensureLayout({ ...t.layout, pids: join(state, "pids"), exits: join(state, "exits"), logs: join(state, "logs") });
      Bun.spawnSync(["sh", "-c", `cat /dev/zero > ${mnt}/fill`]); // ENOSPC: the filesystem is now full
      const marker = join(t.dir, "agent-ran");
      const r = kraal(["--dir", state, "spawn", "x", "--", "sh", "-c", `touch ${marker}; sleep 1000`], { env: t.env });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("cannot write its handle");
      expect(readdirSync(join(state, "pids"))).toEqual([]);
      // A negative can only be checked by waiting: far longer than a started agent needs to touch a file.
      await expect(waitUntil(() => existsSync(marker), { timeoutMs: 500 })).rejects.toThrow("timed out");
    } finally {
      Bun.spawnSync(["umount", "-l", mnt]);
    }
  });
});

describe("a group that will not die", () => {
  const freezer = "/sys/fs/cgroup/freezer";
  test.skipIf(!existsSync(join(freezer, "cgroup.procs")) || process.getuid!() !== 0)("kill exits 1, says so, and keeps the handle", async () => {
    const cg = join(freezer, `kraal-test-${process.pid}`);
    mkdirSync(cg);
    try {
      const pgid = spawnOk(t, "frozen", [fixture("forever.sh"), join(t.dir, "r")]);
      const agent = await readyPid(join(t.dir, "r"));
      writeFileSync(join(cg, "cgroup.procs"), String(pgid));
      writeFileSync(join(cg, "cgroup.procs"), String(agent));
      writeFileSync(join(cg, "freezer.state"), "FROZEN");
      await waitUntil(() => readFileSync(join(cg, "freezer.state"), "utf8").trim() === "FROZEN", { what: "the freeze" });
      const r = run("kill", "frozen", "--grace", "50ms");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("did not die after SIGKILL; its handle is kept");
      expect(existsSync(join(t.layout.pids, "frozen"))).toBe(true);
      writeFileSync(join(cg, "freezer.state"), "THAWED");
      await waitUntil(() => isDeadOrZombie(pgid) && isDeadOrZombie(agent), { what: "the thawed group to die" });
      expect(run("kill", "frozen").code).toBe(0);
    } finally {
      try {
        writeFileSync(join(cg, "freezer.state"), "THAWED");
      } catch {}
      await waitUntil(() => readFileSync(join(cg, "cgroup.procs"), "utf8").trim() === "", { timeoutMs: 5000 }).catch(() => {});
      rmdirSync(cg);
    }
  }, 20_000);
});

describe("race-free signals through the leader's pidfd", () => {
  const hasStrace = Bun.which("strace") !== null;
  test.skipIf(!hasStrace)("kill opens a pidfd for the leader, sends the group signals through it and waits on it: no kill(-pgid) (group tier)", async () => {
    const env = { ...t.env, KRAAL_TIER: "group" };
    // An agent that takes a moment to exit on TERM, so kill has to wait for it.
    const pgid = spawnOk({ ...t, env }, "p", ["sh", "-c", `trap 'sleep 0.2; exit 0' TERM; echo > ${t.dir}/ready; while :; do sleep 0.05; done`]);
    await waitUntil(() => existsSync(join(t.dir, "ready")), { timeoutMs: 10_000, what: "the agent" });
    const trace = join(t.dir, "trace");
    const r = Bun.spawnSync(["strace", "-f", "-qq", "-o", trace, "-e", "trace=pidfd_open,pidfd_send_signal,kill,poll,ppoll", join(import.meta.dir, "../../dist/kraal"), "kill", "p", "--grace", "5s"], { env, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(r.stdout.toString()).toStartWith("p stopped (SIGTERM");
    const calls = readFileSync(trace, "utf8").split("\n").map((l) => l.replace(/^\d+\s+/, ""));
    const open = calls.find((c) => c.startsWith(`pidfd_open(${pgid}, 0)`));
    expect(open).toBeDefined();
    const fd = Number(open!.split("=").at(-1));
    expect(calls).toContainEqual(expect.stringMatching(new RegExp(`^pidfd_send_signal\\(${fd}, SIGTERM, NULL, 0x4\\) = 0`)));
    expect(calls).toContainEqual(expect.stringMatching(new RegExp(`^poll\\(\\[\\{fd=${fd}, events=POLLIN\\}\\]`)));
    // The only kill(2) aimed at the group is the liveness probe (signal 0), never a real signal.
    expect(calls.filter((c) => c.startsWith(`kill(-${pgid},`) && !c.startsWith(`kill(-${pgid}, 0)`))).toEqual([]);
    expect(isDeadOrZombie(pgid)).toBe(true);
  }, 30_000);
});
