import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, fixture, isDeadOrZombie, readyPid, spawnOk, track, waitUntil, useTempState } from "../helpers.ts";

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
