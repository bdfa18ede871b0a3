import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { readStat } from "../../src/handle/probes.ts";
import { BIN, isRunning, spawnOk, track, useTempState } from "../helpers.ts";

/**
 * Issue #8 section 1, as a real second user: a state directory someone else planted or can
 * write is refused before anything is read, written or signaled through it.
 */
const t = useTempState();

const ATTACKER = "kraal-t-attack";
const canRun = process.getuid!() === 0 && Bun.which("useradd") !== null;
let created = false;
function attacker(): { uid: number; gid: number } {
  const id = (flag: string) => Bun.spawnSync(["id", flag, ATTACKER], { stdout: "pipe", stderr: "ignore" });
  if (id("-u").exitCode !== 0) {
    const r = Bun.spawnSync(["useradd", "-M", "-s", "/usr/sbin/nologin", ATTACKER], { stderr: "pipe" });
    if (r.exitCode !== 0 && id("-u").exitCode !== 0) throw new Error(`useradd: ${r.stderr}`);
    created = true;
  }
  return { uid: Number(id("-u").stdout.toString()), gid: Number(id("-g").stdout.toString()) };
}
afterAll(() => {
  if (created) Bun.spawnSync(["userdel", ATTACKER]);
});

/** Root's kraal, run from `cwd` with no KRAAL_DIR, so the state directory is found by walking up. */
function rootKraal(cwd: string, ...args: string[]) {
  const { KRAAL_DIR: _, ...env } = t.env;
  const r = Bun.spawnSync([BIN, ...args], { env, cwd, stdout: "pipe", stderr: "pipe", timeout: 15_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A root-only file and everything about it that an attack could change. */
function victim(path: string) {
  writeFileSync(path, "root's secret\n", { mode: 0o600 });
  const before = () => {
    const s = lstatSync(path);
    return { content: readFileSync(path, "utf8"), size: s.size, mtime: s.mtimeMs, mode: s.mode, uid: s.uid };
  };
  const b = before();
  return { unchanged: () => expect(before()).toEqual(b) };
}

/** An innocent root process in its own group: a forged record will name it. */
function innocent(): number {
  const p = Bun.spawn(["sleep", "1000"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  p.unref();
  return track(p.pid);
}

describe("a state directory another user planted", () => {
  test.skipIf(!canRun)("a .kraal planted in a world-writable parent is refused by every command: nothing written through its links, nothing signaled", () => {
    const { uid, gid } = attacker();
    chmodSync(t.dir, 0o755);
    const pub = join(t.dir, "pub");
    mkdirSync(pub, { mode: 0o777 });
    chmodSync(pub, 0o1777);
    const project = join(pub, "project");
    mkdirSync(project, { mode: 0o755 });
    const secret = join(t.dir, "secret");
    mkdirSync(secret, { mode: 0o700 });
    const exitsVictim = victim(join(secret, "exits-victim"));
    const historyVictim = victim(join(secret, "history-victim"));
    const handleVictim = victim(join(secret, "handle-victim"));
    const logsDir = join(secret, "logs");
    mkdirSync(logsDir, { mode: 0o700 });
    const lockTarget = join(secret, "made-by-lock");
    const pid = innocent();

    // The attacker's plant: a .kraal with symlinks into root's files and a forged supervisor record.
    const k = join(pub, ".kraal");
    for (const d of ["", "pids", "exits"]) mkdirSync(join(k, d), { mode: 0o777 });
    symlinkSync(join(secret, "exits-victim"), join(k, "exits", "a"));
    symlinkSync(join(secret, "history-victim"), join(k, "history.jsonl"));
    symlinkSync(lockTarget, join(k, "lock"));
    symlinkSync(logsDir, join(k, "logs"));
    for (let n = 0; n < 64; n++) symlinkSync(join(secret, "handle-victim"), join(k, "pids", `.tmp.a.${n}`));
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(join(k, "supervisor"), JSON.stringify({ v: 1, pid, start: readStat(pid)!.startTicks, bootId, host: hostname(), uid: 0, startedAt: Date.now(), config: "kraal.toml", agents: {} }) + "\n");
    execFileSync("chown", ["-h", "-R", `${uid}:${gid}`, k]);

    for (const cmd of [["spawn", "a", "--", "true"], ["ps"], ["status", "a"], ["kill", "--all"], ["sweep"], ["down"], ["logs", "a"]]) {
      const r = rootKraal(project, ...cmd);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: cmd[0] === "status" ? 4 : 1 });
      expect(r.stderr).toContain(k);
      expect(r.stderr).toContain(ATTACKER);
      expect(r.stderr).not.toContain("internal error");
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
    exitsVictim.unchanged();
    historyVictim.unchanged();
    handleVictim.unchanged();
    expect(existsSync(lockTarget)).toBe(false);
    expect(Bun.spawnSync(["ls", "-A", logsDir], { stdout: "pipe" }).stdout.toString()).toBe("");
    expect(readlinkSync(join(k, "pids", ".tmp.a.0"))).toBe(join(secret, "handle-victim"));
    expect(isRunning(pid)).toBe(true);
  }, 60_000);

  test.skipIf(!canRun)("a subdirectory of our state directory that another user owns or can write is refused", () => {
    const { uid, gid } = attacker();
    spawnOk(t, "ok", ["sleep", "1000"]);
    const logs = t.layout.logs;
    execFileSync("chown", [`${uid}:${gid}`, logs]);
    const r = rootKraal(t.dir, "ps", "--dir", t.layout.root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(logs);
    expect(r.stderr).toContain(ATTACKER);
    execFileSync("chown", ["0:0", logs]);
    chmodSync(logs, 0o777);
    const w = rootKraal(t.dir, "ps", "--dir", t.layout.root);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain(logs);
    expect(w.stderr).toMatch(/writable|chmod/);
    chmodSync(logs, 0o700);
    // Every directory kraal keeps in it, the worktree ones too: a link there is followed by git and by the record writer.
    for (const name of ["worktrees", "worktree-records"]) {
      const d = join(t.layout.root, name);
      mkdirSync(d, { mode: 0o700 });
      execFileSync("chown", [`${uid}:${gid}`, d]);
      const r = rootKraal(t.dir, "ps", "--dir", t.layout.root);
      expect({ name, code: r.code }).toEqual({ name, code: 1 });
      expect(r.stderr).toContain(d);
      expect(r.stderr).toContain(ATTACKER);
      rmdirSync(d);
      symlinkSync(join(t.dir), d);
      const l = rootKraal(t.dir, "ps", "--dir", t.layout.root);
      expect({ name, code: l.code }).toEqual({ name, code: 1 });
      expect(l.stderr).toContain(`${d} is a symlink`);
      rmSync(d);
    }
    expect(rootKraal(t.dir, "kill", "ok", "--dir", t.layout.root).code).toBe(0);
  }, 30_000);
});

describe("the supervisor record is verified like a handle", () => {
  test.skipIf(!canRun)("down does not signal a process named by a record another user's file holds, even in our own directory", () => {
    const { uid, gid } = attacker();
    const pid = innocent();
    mkdirSync(t.layout.root, { recursive: true, mode: 0o700 });
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const rec = join(t.layout.root, "supervisor");
    writeFileSync(rec, JSON.stringify({ v: 1, pid, start: readStat(pid)!.startTicks, bootId, host: hostname(), uid: 0, startedAt: Date.now(), config: "kraal.toml", agents: {} }) + "\n");
    execFileSync("chown", [`${uid}:${gid}`, rec]);
    const r = rootKraal(t.dir, "down", "--dir", t.layout.root);
    expect(r.stderr).not.toContain("internal error");
    expect(isRunning(pid)).toBe(true);
    expect(statSync(rec).uid).toBe(uid);
    // Nor does it keep up from starting; and neither does a record of ours whose pid is not that process any more.
    writeFileSync(join(t.dir, "kraal.toml"), `[agents.a]\ncmd = "true"\n`);
    const up = rootKraal(t.dir, "up", "--dir", t.layout.root);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    writeFileSync(rec, JSON.stringify({ v: 1, pid, start: readStat(pid)!.startTicks + 1, bootId, host: hostname(), uid: 0, startedAt: Date.now(), config: "kraal.toml", agents: {} }) + "\n");
    expect(rootKraal(t.dir, "down", "--dir", t.layout.root)).toMatchObject({ code: 0, stderr: "kraal: no kraal up is running here\n" });
    expect(rootKraal(t.dir, "up", "--dir", t.layout.root).code).toBe(0);
    expect(isRunning(pid)).toBe(true);
  }, 30_000);
});

describe("a state directory given explicitly", () => {
  test("a symlink given as --dir is resolved once and its target checked like any state directory", () => {
    const real = join(t.dir, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(t.dir, "link"));
    expect(rootKraal(t.dir, "spawn", "a", "--dir", join(t.dir, "link"), "--", "true").code).toBe(0);
    expect(existsSync(join(real, "pids"))).toBe(true); // the target is the state directory
    const open = join(t.dir, "open");
    mkdirSync(open, { mode: 0o700 });
    chmodSync(open, 0o777);
    symlinkSync(open, join(t.dir, "link2"));
    const r = rootKraal(t.dir, "ps", "--dir", join(t.dir, "link2"));
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`kraal: error: refusing state directory ${open}: it is writable by group and others (mode 0777)`);
  }, 30_000);
});

describe("a FIFO where a file should be", () => {
  test("a FIFO at exits/<id> hangs nothing: ps, status and kill answer", () => {
    spawnOk(t, "f", ["sleep", "1000"]);
    // The wrapper's own record is open on an fd kraal created; a FIFO put in its place by name is what readers meet.
    rmSync(join(t.layout.exits, "f"), { force: true });
    execFileSync("mkfifo", [join(t.layout.exits, "f")]);
    for (const cmd of [["ps"], ["status", "f"], ["kill", "f"]]) {
      const r = rootKraal(t.dir, cmd[0]!, "--dir", t.layout.root, ...cmd.slice(1));
      expect({ cmd, signal: r.code === null ? "killed by timeout" : "answered" }).toEqual({ cmd, signal: "answered" });
      expect(r.stderr).not.toContain("internal error");
    }
  }, 60_000);
});
