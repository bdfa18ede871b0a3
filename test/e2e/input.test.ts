import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BIN, spawnOk, useTempState } from "../helpers.ts";

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
});

describe("a read-only state directory", () => {
  test.skipIf(process.getuid!() !== 0)("status keeps 0/3/4, ps answers, errors are one line naming the path", () => {
    const run = (...a: string[]) => {
      const r = Bun.spawnSync([BIN, ...a], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    spawnOk(t, "live", ["sleep", "1000"]);
    expect(run("spawn", "done", "--", "true").code).toBe(0);
    Bun.sleepSync(300);
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
      Bun.spawnSync(["umount", root]);
    }
  }, 30_000);
});
