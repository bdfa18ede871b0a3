import { describe, expect, test } from "bun:test";
import { lstatSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, kraalAsync, spawnOk, useTempState, waitUntil } from "../helpers.ts";

const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });

function rawOut(...args: string[]): Buffer {
  const r = Bun.spawnSync([BIN, ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(`kraal ${args.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return Buffer.from(r.stdout);
}

/** 64 numbered lines of 16 KiB each (1 MiB), `pause` seconds apart: what the agent writes and the test expects. */
const LINE = 16 * 1024;
const script = (pause: string) => `i=0; while [ $i -lt 64 ]; do printf '%06d' $i; head -c ${LINE - 7} /dev/zero | tr '\\0' x; echo; i=$((i+1)); sleep ${pause}; done; exit 7`;
const expected = (): Buffer => {
  const parts: string[] = [];
  for (let i = 0; i < 64; i++) parts.push(`${String(i).padStart(6, "0")}${"x".repeat(LINE - 7)}\n`);
  return Buffer.from(parts.join(""));
};

const logFiles = (id: string) => readdirSync(t.layout.logs).filter((f) => f === `${id}.log` || f.startsWith(`${id}.log.`)).filter((f) => !f.endsWith(".lock") && !f.includes(".prev"));
const onDisk = (id: string) => logFiles(id).reduce((n, f) => n + statSync(join(t.layout.logs, f)).size, 0);

describe("log rotation", () => {
  test("--log-max 64K: 1 MiB written, disk stays bounded, the newest output complete and in order, exit code kept", () => {
    spawnOk(t, "chatty", ["sh", "-c", script("0")], ["--log-max", "64K"]);
    expect(run("wait", "chatty").code).toBe(7);
    const all = rawOut("logs", "chatty");
    expect(onDisk("chatty")).toBeLessThanOrEqual(64 * 1024);
    expect(logFiles("chatty").sort()).toEqual(["chatty.log", "chatty.log.1", "chatty.log.2", "chatty.log.3"]);
    const want = expected();
    // Oldest generation first: what is kept is exactly the end of what was written.
    expect(all.length).toBeGreaterThan(32 * 1024);
    expect(want.subarray(want.length - all.length).equals(all)).toBe(true);
    // -n across generations: the last 3 lines span files of 16 KiB.
    expect(rawOut("logs", "chatty", "-n", "3").equals(want.subarray(want.length - 3 * LINE))).toBe(true);
    // Without an id too: every kept line, across the rotated files, prefixed, byte for byte (what is
    // kept may begin with the bare newline that ended an older line: an empty line, shown prefixed).
    const every = rawOut("logs").toString();
    expect(every === all.toString().split("\n").slice(0, -1).map((l) => `chatty | ${l}\n`).join("")).toBe(true);
    expect(run("status", "chatty").stdout).toContain("exited");
  }, 60_000);

  test("logs -f crosses every rotation: all 1 MiB, in order", async () => {
    // It starts writing after 1.5 s, once the follower runs. 256 KiB hold 16 lines, ~0.5 s of output:
    // a follower starved for longer (a loaded machine) would find its place rotated out, as tail -F would.
    spawnOk(t, "slow", ["sh", "-c", `sleep 1.5; ${script("0.03")}`], ["--log-max", "256K"]);
    const f = Bun.spawn([BIN, "logs", "slow", "-f"], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
    const out = Buffer.from(await new Response(f.stdout).arrayBuffer());
    expect(await f.exited).toBe(0);
    expect(out.length).toBe(expected().length);
    expect(out.equals(expected())).toBe(true);
    expect(onDisk("slow")).toBeLessThanOrEqual(256 * 1024);
    expect(run("wait", "slow").code).toBe(7);
  }, 60_000);

  test("logs -f without an id crosses every rotation too: every line once, in order, prefixed", async () => {
    spawnOk(t, "slow", ["sh", "-c", `sleep 1.5; ${script("0.03")}`], ["--log-max", "256K"]);
    const f = Bun.spawn([BIN, "logs", "-f"], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
    const chunks: Buffer[] = [];
    const reading = (async () => {
      for await (const c of f.stdout) chunks.push(Buffer.from(c));
    })();
    try {
      expect((await kraalAsync(["wait", "slow"], { env: t.env })).code).toBe(7);
      const last = `slow | 000063${"x".repeat(LINE - 7)}\n`;
      await waitUntil(() => Buffer.concat(chunks).toString().endsWith(last), { timeoutMs: 10_000, what: "the last line" });
    } finally {
      f.kill("SIGTERM");
    }
    expect(await f.exited).toBe(0);
    await reading;
    const want = expected().toString().split("\n").slice(0, -1).map((l) => `slow | ${l}\n`).join("");
    expect(Buffer.concat(chunks).toString() === want).toBe(true);
  }, 60_000);

  test("a restart waits for the old run's writer: every line the old run wrote last is in its own files, none in the new run's", () => {
    // On TERM the agent writes 3,000 lines at once; 64K gives the writer 256-byte blocks, many to drain.
    spawnOk(t, "y", ["sh", "-c", `echo started; trap 'seq -f "old %g" 1 3000; exit' TERM; while :; do sleep 0.05; done`], ["--log-max", "64K"]);
    expect(run("restart", "y").code).toBe(0);
    // The new run is not one spawnOk tracks: stop it here (its own TERM trap writes "old" lines
    // then, so its files are read first).
    try {
      expect(run("status", "y").code).toBe(0);
      const current = logFiles("y").map((f) => readFileSync(join(t.layout.logs, f), "utf8")).join("");
      expect(current).not.toContain("old");
    } finally {
      run("kill", "y");
    }
    // What is kept of the old run is the end of what it wrote: consecutive lines up to the last.
    const old = rawOut("logs", "y", "--previous").toString().split("\n").filter((line) => line.startsWith("old "));
    expect(old.length).toBeGreaterThan(100);
    expect(old.map((line) => Number(line.slice(4)))).toEqual(Array.from({ length: old.length }, (_, i) => 3001 - old.length + i));
  }, 30_000);

  /**
   * Replaces the file at `path` with what `plant` makes there. The log writer's dd may create the
   * log again between the removal and the planting (it opens it with O_CREAT when it starts): then
   * the removal is done again, until the planted thing is what stands at the path.
   */
  function plantAt(path: string, plant: () => void): void {
    for (let tries = 0; ; tries++) {
      rmSync(path, { force: true });
      try {
        plant();
        return;
      } catch (e) {
        if (tries >= 50) throw e;
      }
    }
  }

  test("a symlink or FIFO put at the log's path is never written through nor waited on by the writer", async () => {
    const victim = join(t.dir, "victim");
    writeFileSync(victim, "untouched\n");
    const go = join(t.dir, "go");
    // 16K: the writer reopens the log every 16 reads; the agent writes 40 short lines after go.
    spawnOk(t, "planted", ["sh", "-c", `while [ ! -e "$0" ]; do sleep 0.01; done; i=0; while [ $i -lt 40 ]; do echo line$i; i=$((i+1)); sleep 0.01; done`, go], ["--log-max", "16K"]);
    const log = join(t.layout.logs, "planted.log");
    plantAt(log, () => symlinkSync(victim, log));
    writeFileSync(go, "");
    expect(run("wait", "planted").code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    expect(lstatSync(log).isSymbolicLink()).toBe(true);
    // A FIFO: the writer neither blocks on it nor keeps the agent from ending.
    const fifoGo = join(t.dir, "go2");
    spawnOk(t, "fifo", ["sh", "-c", `while [ ! -e "$0" ]; do sleep 0.01; done; i=0; while [ $i -lt 40 ]; do echo line$i; i=$((i+1)); sleep 0.01; done`, fifoGo], ["--log-max", "16K"]);
    const fifoLog = join(t.layout.logs, "fifo.log");
    plantAt(fifoLog, () => {
      if (Bun.spawnSync(["mkfifo", fifoLog]).exitCode !== 0) throw new Error(`mkfifo ${fifoLog} failed`);
    });
    writeFileSync(fifoGo, "");
    expect(run("wait", "fifo").code).toBe(0);
    // The writer ends once the agent's output is done: its lock is free.
    await waitUntil(() => Bun.spawnSync(["flock", "-n", join(t.layout.logs, "fifo.log.lock"), "true"]).exitCode === 0, { what: "the fifo agent's writer to end" });
  }, 30_000);

  test("kraal.toml log_max bounds up's agents the same way ([defaults], overridden per agent)", () => {
    const cmd = JSON.stringify(script("0"));
    writeFileSync(join(t.dir, "kraal.toml"), `[defaults]\nlog_max = "64K"\n\n[agents.capped]\ncmd = ${cmd}\n\n[agents.whole]\ncmd = ${cmd}\nlog_max = "off"\n`);
    const up = run("up");
    expect(up.code).toBe(1); // both exit 7
    const want = expected();
    expect(onDisk("capped")).toBeLessThanOrEqual(64 * 1024);
    expect(logFiles("capped").sort()).toEqual(["capped.log", "capped.log.1", "capped.log.2", "capped.log.3"]);
    const capped = rawOut("logs", "capped");
    expect(capped.length).toBeGreaterThan(32 * 1024);
    expect(want.subarray(want.length - capped.length).equals(capped)).toBe(true);
    expect(logFiles("whole")).toEqual(["whole.log"]);
    expect(rawOut("logs", "whole").equals(want)).toBe(true);
    writeFileSync(join(t.dir, "bad.toml"), `[agents.a]\ncmd = "true"\nlog_max = "1K"\n`);
    expect(run("up", "-f", join(t.dir, "bad.toml"))).toMatchObject({ code: 2, stderr: expect.stringContaining("log_max") });
  }, 60_000);

  test("a new run keeps the previous one's files for --previous; --log-max 0 is unbounded; bad sizes are refused", async () => {
    spawnOk(t, "r", ["sh", "-c", "echo first"], ["--log-max", "16K"]);
    expect(run("wait", "r").code).toBe(0);
    spawnOk(t, "r", ["sh", "-c", "echo second"], ["--log-max", "off"]);
    expect(run("wait", "r").code).toBe(0);
    expect(rawOut("logs", "r").toString()).toBe("second\n");
    expect(rawOut("logs", "r", "--previous").toString()).toBe("first\n");
    await waitUntil(() => !readdirSync(t.layout.logs).includes("r.log.1"), { what: "no rotation when unbounded" });
    const bad = run("spawn", "x", "--log-max", "lots", "--", "true");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--log-max");
    expect(run("spawn", "x", "--log-max", "1K", "--", "true").stderr).toContain("at least 16K");
  }, 30_000);
});
