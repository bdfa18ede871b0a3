import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, isDeadOrZombie, kraal, spawnOk, track, useTempState, waitUntil } from "../helpers.ts";

// A small tmpfs as the state directory's file system, filled by an agent's own output.
const isRoot = process.getuid?.() === 0;
let mounted: string | null = null;
// Registered before useTempState's, so it runs first: unmounted before the temp dir is removed.
afterEach(() => {
  if (mounted) Bun.spawnSync(["umount", "-l", mounted], { timeout: 10_000 });
  mounted = null;
});
const t = useTempState();

function smallDisk(kb: number): Record<string, string> {
  const mnt = join(t.dir, "mnt");
  mkdirSync(mnt);
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${kb}k,mode=0700`, "tmpfs", mnt], { stderr: "pipe", timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`mount: ${r.stderr}`);
  mounted = mnt;
  return { ...t.env, KRAAL_DIR: join(mnt, "state") };
}

const FILL = "head -c 4000000 /dev/zero; echo after-full; exit 7";

describe.skipIf(!isRoot)("a full disk", () => {
  test("an agent that fills the disk keeps its exit code; ps and status still answer; kill reports what it did", async () => {
    const env = smallDisk(512);
    const run = (...args: string[]) => kraal(args, { env, cwd: t.dir });
    // One agent running before the disk fills, one that fills it.
    spawnOk({ ...t, env }, "sleeper", ["sleep", "60"]);
    spawnOk({ ...t, env }, "filler", ["sh", "-c", FILL]);
    const w = run("wait", "filler", "--timeout", "20s");
    expect(w.stderr).toBe("");
    expect(w.code).toBe(7);
    const df = Bun.spawnSync(["df", "--output=avail", "-k", mounted!], { stdout: "pipe" }).stdout.toString();
    expect(Number(df.trim().split("\n").at(-1))).toBeLessThan(8); // really full
    // status: the exit code is there, whatever the sweep could not write.
    const s = run("status", "filler", "--json");
    expect(s.code).toBe(3);
    expect(JSON.parse(s.stdout)).toMatchObject({ id: "filler", exitCode: 7 });
    const ps = run("ps", "--json");
    expect(ps.code).toBe(0);
    expect(JSON.parse(ps.stdout).map((r: { id: string }) => r.id).sort()).toContain("sleeper");
    // kill ended it: success, with a note that it could not be recorded yet.
    const k = run("kill", "sleeper", "--json");
    console.log(`kill on a full disk: ${k.stdout.replace(/\s+/g, " ")} ${k.stderr.trim()}`);
    expect(k.code).toBe(0);
    expect(JSON.parse(k.stdout)[0] ?? JSON.parse(k.stdout)).toMatchObject({ id: "sleeper", result: "stopped" });
    // The sweep cannot retire it: ps still answers, with a note.
    const ps2 = run("ps", "-a");
    expect(ps2.code).toBe(0);
    expect(ps2.stdout).toContain("sleeper");
    expect(ps2.stderr).toMatch(/no space left/i);
    console.log(`ps on a full disk: ${ps2.stderr.trim()}`);
    // Room again: the next sweep records both.
    Bun.spawnSync(["sh", "-c", `rm -f "$0"/state/logs/filler.log`, mounted!]);
    await waitUntil(() => run("ps").code === 0, { timeoutMs: 10_000 });
    const hist = JSON.parse(run("ps", "-a", "--json").stdout) as { id: string; exitCode: number | null; history?: boolean }[];
    expect(hist.find((r) => r.id === "filler")).toMatchObject({ state: "exited", exitCode: 7 });
    expect(hist.find((r) => r.id === "sleeper")).toMatchObject({ state: "exited", signal: "SIGTERM" });
  }, 60_000);

  test("kraal up keeps supervising when its record cannot be rewritten (a full disk): no crash, and it stops its agents on TERM", async () => {
    const env = smallDisk(512);
    const mnt = mounted!;
    // "sleeper" runs on; "filler" fills the disk and then exits, a state change up must record.
    writeFileSync(join(t.dir, "kraal.toml"), `[agents.sleeper]\ncmd = "sleep 60"\n\n[agents.filler]\ncmd = "sleep 0.5; head -c 4000000 /dev/zero >'${mnt}/fill'; sleep 0.5; exit 0"\n`);
    const up = Bun.spawn([BIN, "up"], { env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
    track(up.pid);
    const stderr = new Response(up.stderr).text();
    const stdout = new Response(up.stdout).text();
    try {
      // The filler's end comes after the disk is full: up must still be running a while after it.
      await Bun.sleep(3000);
      expect(isDeadOrZombie(up.pid)).toBe(false);
      process.kill(up.pid, "SIGTERM");
      const code = await up.exited;
      const err = await stderr;
      expect(err).not.toContain("Bun v"); // Bun's banner for an uncaught exception
      expect(code).not.toBe(1);
      await stdout;
    } finally {
      try {
        process.kill(up.pid, "SIGKILL");
      } catch {}
    }
  }, 60_000);
});
