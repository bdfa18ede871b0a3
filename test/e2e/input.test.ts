import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, spawnOk, track, useTempState, waitUntil } from "../helpers.ts";

/** Issue #8 section 4: input that must be refused or shown safely. */
const t = useTempState();

/** Runs kraal with raw argument bytes (Bun.spawn would re-encode strings), through sh's printf. */
function rawRun(script: string): { code: number; stderr: string; stdout: string } {
  const r = Bun.spawnSync(["sh", "-c", script, "sh", BIN], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("ids", () => {
  test("invalid UTF-8 is refused, so a\\xfe and a\\xff never collide", () => {
    for (const b of ["fe", "ff"]) {
      const r = rawRun(`"$1" spawn "$(printf 'a\\${b === "fe" ? "376" : "377"}')" -- true`);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`kraal: error: argument "a\\x${b}" is not valid UTF-8: agent ids, paths and options must be UTF-8\n`);
    }
  }, 20_000);

  test("bidirectional controls are refused", () => {
    for (const c of ["\u202e", "\u2066", "\u200f", "\u061c"]) {
      const r = Bun.spawnSync([BIN, "spawn", `a${c}b`, "--", "true"], { env: t.env, stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toContain("contains a bidirectional control");
    }
  }, 20_000);

  test("an id may start with - after --id or --", () => {
    const r = Bun.spawnSync([BIN, "spawn", "--id", "-x", "--json", "--", "sleep", "1000"], { env: t.env, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const pgid = JSON.parse(r.stdout.toString()).pgid;
    try {
      expect(Bun.spawnSync([BIN, "status", "--", "-x"], { env: t.env }).exitCode).toBe(0);
      expect(Bun.spawnSync([BIN, "kill", "--id", "-x"], { env: t.env }).exitCode).toBe(0);
    } finally {
      try { process.kill(-pgid, "SIGKILL"); } catch {}
    }
  }, 20_000);

  test("ids after -- or --id beyond what the command takes are refused, not dropped", () => {
    for (const [args, extra] of [[["ps", "--", "foo"], "foo"], [["status", "--", "a", "b"], "b"], [["status", "b", "--id", "a"], "a"], [["logs", "--", "a", "b"], "b"], [["sweep", "--", "x"], "x"]] as const) {
      const r = kraal([...args], { env: t.env });
      expect(r.code).toBe(2);
      expect(r.stderr).toStartWith(`kraal: error: ${args[0]}: unexpected argument "${extra}"\n`);
    }
    // Those that take several ids take them all.
    expect(kraal(["kill", "--", "a", "b"], { env: t.env }).stderr).toContain(`no agent named "b"`);
  }, 20_000);
});

describe("a read-only state directory", () => {
  test.skipIf(process.getuid!() !== 0)("status keeps 0/3/4, ps answers, errors are one line naming the path", async () => {
    const run = (...a: string[]) => {
      const r = Bun.spawnSync([BIN, ...a], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    spawnOk(t, "live", ["sleep", "1000"]);
    expect(run("spawn", "done", "--", "true").code).toBe(0);
    // Until its wrapper has cleared the group (up to a grace), done is not retirable and nothing would be written.
    await waitUntil(() => (JSON.parse(run("sweep", "--dry-run", "--json").stdout).retired as { id: string }[]).some((r) => r.id === "done"), { what: "done to be retirable" });
    const root = t.layout.root;
    mkdirSync(root, { recursive: true });
    expect(Bun.spawnSync(["mount", "--bind", "-o", "ro", root, root]).exitCode).toBe(0);
    try {
      expect(run("status", "live").code).toBe(0);
      const done = run("status", "done");
      expect(done.code).toBe(3);
      expect(done.stderr).toContain("read-only file system (EROFS)");
      expect(done.stderr).not.toContain("internal error");
      expect(run("status", "nope").code).toBe(4);
      expect(run("ps").code).toBe(0);
      const spawn = run("spawn", "new", "--", "true");
      expect(spawn.code).toBe(1);
      expect(spawn.stderr).toMatch(new RegExp(`^kraal: error: cannot \\S+( \\S+)? ${join(root, "")}`));
      expect(spawn.stderr).not.toContain("internal error");
      expect(run("kill", "live")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^live stopped/) });
    } finally {
      // Lazy: a log writer that is still writing its last bytes would make a plain umount fail (EBUSY), and the temp dir could not be removed.
      Bun.spawnSync(["umount", "-l", root]);
    }
  }, 30_000);
});

const USER = "kraal-t-input";
const canUser = process.getuid!() === 0 && ["useradd", "userdel", "setpriv"].every((b) => Bun.which(b) !== null);
let userMade = false;
afterAll(() => {
  if (userMade) Bun.spawnSync(["userdel", USER]);
});

describe("an unwritable state directory", () => {
  test.skipIf(!canUser)("as a user without write permission on it (EACCES): status keeps 0/3/4, ps and kill answer, writers say which path and errno", () => {
    const id = (flag: string) => Bun.spawnSync(["id", flag, USER], { stdout: "pipe", stderr: "ignore" });
    if (id("-u").exitCode !== 0) {
      Bun.spawnSync(["useradd", "-M", "-s", "/usr/sbin/nologin", USER]);
      userMade = true;
    }
    const [uid, gid] = [Number(id("-u").stdout.toString()), Number(id("-g").stdout.toString())];
    chmodSync(t.dir, 0o755);
    const state = join(t.dir, "state");
    const as = (...a: string[]) => {
      const r = Bun.spawnSync(["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", BIN, ...a], { env: { ...t.env, HOME: t.dir }, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, uid, gid);
    const live = as("spawn", "live", "--json", "--", "sleep", "1000");
    expect(live.code).toBe(0);
    track(JSON.parse(live.stdout).pgid);
    expect(as("spawn", "done", "--", "true").code).toBe(0);
    expect(as("wait", "done").code).toBe(0);
    chmodSync(state, 0o500);
    chmodSync(join(state, "pids"), 0o500);
    try {
      expect(as("status", "live").code).toBe(0);
      const done = as("status", "done");
      expect(done.code).toBe(3);
      expect(done.stderr).not.toContain("internal error");
      expect(as("status", "nope").code).toBe(4);
      const ps = as("ps");
      expect(ps.code).toBe(0);
      expect(ps.stdout).toContain("live");
      const spawn = as("spawn", "new", "--", "true");
      expect(spawn.code).toBe(1);
      const [line, hint] = spawn.stderr.trimEnd().split("\n");
      expect(line).toMatch(new RegExp(`^kraal: error: could not start "new": cannot write its handle: cannot \\S+ ${join(state, "pids")}/\\S+: permission denied \\(EACCES\\)$`));
      expect(hint).toBe(`  kraal needs to write its state directory: check the owner and mode of ${join(state, "pids")} (ls -ld ${join(state, "pids")}), or pass another --dir`);
      expect(as("kill", "live")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^live stopped/) });
      expect(as("status", "live").code).toBe(3);
      // Both ended agents are for the sweep to retire, which it cannot.
      const sweep = as("sweep");
      expect(sweep.code).toBe(1);
      expect(sweep.stderr).toMatch(/^kraal: error: cannot \S+ \S+: permission denied \(EACCES\)\n/);
    } finally {
      chmodSync(join(state, "pids"), 0o700);
      chmodSync(state, 0o700);
    }
  }, 30_000);
});

describe("ps and status show argv safely", () => {
  test("control bytes and bidi controls in argv are escaped in the table, exact in --json", () => {
    const evil = ["sh", "-c", "sleep 1000", "sh", "\x1b[2J\x1b]0;owned\x07", "a\nb", "\u202eevil"];
    spawnOk(t, "esc", evil);
    for (const cmd of [["ps"], ["status", "esc"]]) {
      const r = kraal(cmd, { env: t.env });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
      expect(r.stdout).toContain("\\e[2J\\e]0;owned\\x07");
      expect(r.stdout).toContain("a\\nb");
      expect(r.stdout).toContain("\\u202eevil");
      expect(r.stdout.trimEnd().split("\n")).toHaveLength(2);
    }
    const json = JSON.parse(kraal(["ps", "--json"], { env: t.env }).stdout);
    expect(json[0].argv).toEqual(evil);
  }, 20_000);

  test("long ids and commands are cut to the terminal width, whole in --json", () => {
    const id = "x".repeat(100);
    const long = Array.from({ length: 40 }, (_, i) => `arg${i}`);
    spawnOk(t, id, ["sh", "-c", "sleep 1000", "sh", ...long]);
    const r = kraal(["ps"], { env: { ...t.env, COLUMNS: "80" } });
    expect(r.code).toBe(0);
    for (const line of r.stdout.trimEnd().split("\n")) expect(Array.from(line).length).toBeLessThanOrEqual(80);
    expect(r.stdout).toContain("…");
    const json = JSON.parse(kraal(["ps", "--json"], { env: { ...t.env, COLUMNS: "80" } }).stdout);
    expect(json[0].id).toBe(id);
    expect(json[0].argv).toEqual(["sh", "-c", "sleep 1000", "sh", ...long]);
    // Piped without COLUMNS: nothing is cut.
    const { COLUMNS: _, ...noColumns } = t.env;
    expect(kraal(["ps"], { env: noColumns }).stdout).toContain(long.join(" "));
  }, 20_000);
});

describe("odd state paths", () => {
  test("a dangling symlink, a regular file: one clear line, never an internal error", () => {
    const dangling = `${t.dir}/dangling`;
    symlinkSync(`${t.dir}/nowhere`, dangling);
    const file = `${t.dir}/file`;
    writeFileSync(file, "not a directory\n");
    for (const dir of [dangling, file]) {
      for (const cmd of [["ps"], ["spawn", "a", "--", "true"], ["status", "a"]]) {
        const r = kraal([cmd[0]!, "--dir", dir, ...cmd.slice(1)], { env: t.env });
        expect({ cmd, dir, code: r.code === 0 ? 0 : "nonzero" }).toEqual({ cmd, dir, code: "nonzero" });
        expect(r.stderr).not.toContain("internal error");
        expect(r.stderr.trimEnd().split("\n")[0]).toContain(dir);
        expect(r.stderr).toMatch(/^kraal: error: /);
      }
    }
  }, 20_000);
});
