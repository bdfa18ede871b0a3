import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, spawnOk, track, useTempState, waitUntil } from "../helpers.ts";

// `kraal logs` without an id (every agent, prefixed), --timestamps, and -f across restarts under up.

const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const STAMP = /^\d\d:\d\d:\d\d\.\d{3} /;

/** A kraal command in the background whose stdout is collected as it comes. */
function background(args: string[], env: Record<string, string> = t.env) {
  const p = Bun.spawn([BIN, ...args], { env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
  track(p.pid);
  let out = "";
  const reading = (async () => {
    for await (const chunk of p.stdout as ReadableStream<Uint8Array>) out += Buffer.from(chunk).toString();
  })();
  return { proc: p, output: () => out, done: async () => (await reading, out) };
}

async function finished(...ids: string[]) {
  for (const id of ids) expect(run("wait", id).code).toBe(0);
}

describe("kraal logs without an id", () => {
  test("every agent's log, each line prefixed 'ID | ' padded to the widest id; -n N is the last N of each", async () => {
    spawnOk(t, "web", ["sh", "-c", "echo one; echo two; printf 'no newline'"]);
    spawnOk(t, "db-main", ["sh", "-c", "echo ready"]);
    await finished("web", "db-main");
    const r = run("logs");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe("db-main | ready\nweb     | one\nweb     | two\nweb     | no newline\n"); // no colour in a pipe
    expect(run("logs", "-n", "1").stdout).toBe("db-main | ready\nweb     | no newline\n");
    expect(run("logs", "-n", "0").stdout).toBe("");
    expect(run("logs", "--previous")).toMatchObject({ code: 2 });
  }, 30_000);

  test("no agents: nothing printed, exit 0", () => {
    expect(run("logs")).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }, 15_000);

  test("colour only on a terminal, never with NO_COLOR", async () => {
    spawnOk(t, "a", ["echo", "hi"]);
    await finished("a");
    const { NO_COLOR: _, ...colourable } = t.env;
    const inTty = (env: Record<string, string>) =>
      Bun.spawnSync(["script", "-qec", `${BIN} logs`, "/dev/null"], { env: { ...colourable, ...env }, cwd: t.dir, stdout: "pipe", timeout: 15_000 }).stdout.toString();
    expect(inTty({})).toBe("\x1b[36ma |\x1b[0m hi\r\n");
    expect(inTty({ NO_COLOR: "1" })).toBe("a | hi\r\n");
  }, 20_000);

  test("-f follows every agent, including one spawned after it began, until interrupted; the unfinished line is printed at the end", async () => {
    spawnOk(t, "early", ["sh", "-c", "echo first; sleep 0.5; echo second; sleep 1000"]);
    await waitUntil(() => run("logs", "early").stdout.includes("first"), { timeoutMs: 5000, what: "early's first line" });
    const f = background(["logs", "-f"]);
    await waitUntil(() => f.output().includes("early | second\n"), { timeoutMs: 5000, what: "a line written while following" });
    spawnOk(t, "late", ["sh", "-c", "echo from-late; printf tail-end; sleep 1000"]);
    await waitUntil(() => f.output().includes("late  | from-late\n"), { timeoutMs: 5000, what: "a new agent's lines" });
    await Bun.sleep(200);
    f.proc.kill("SIGTERM");
    expect(await f.proc.exited).toBe(0);
    const out = await f.done();
    expect(out).toStartWith("early | first\nearly | second\n");
    expect(out).toEndWith("late  | tail-end\n");
    expect(run("kill", "--all").code).toBe(0);
  }, 30_000);
});

describe("logs --timestamps", () => {
  test("-t: lines already in the log carry its last write time; followed lines the time they were read", async () => {
    spawnOk(t, "ts", ["sh", "-c", "echo old; sleep 1.5; echo new"]);
    await waitUntil(() => run("logs", "ts").stdout === "old\n", { timeoutMs: 5000, what: "the first line" });
    const before = Date.now();
    const f = background(["logs", "ts", "-f", "-t"]);
    expect(await f.proc.exited).toBe(0);
    const lines = (await f.done()).split("\n").filter(Boolean);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(STAMP);
    expect(lines.map((l) => l.slice(13))).toEqual(["old", "new"]);
    const ms = (l: string) => Date.parse(`${new Date().toISOString().slice(0, 11)}${l.slice(0, 12)}Z`);
    const [oldAt, newAt] = lines.map(ms) as [number, number];
    expect(oldAt).toBeLessThanOrEqual(before + 50); // the log's mtime: written before logs began
    expect(newAt - oldAt).toBeGreaterThan(1000); // the time it was read, 1.5 s later
    expect(newAt).toBeLessThanOrEqual(Date.now());
    // Without an id, the time comes before the prefix; plain logs never carries one.
    expect(run("logs", "--timestamps").stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ts \| old\n\d\d:\d\d:\d\d\.\d{3} ts \| new\n$/);
    expect(run("logs", "ts").stdout).toBe("old\nnew\n");
  }, 30_000);
});

describe("logs -f across restarts under kraal up", () => {
  test("lines from each new run appear without re-running logs: restart policy, then kraal restart; kraal stop ends it", async () => {
    const counter = join(t.dir, "runs");
    writeFileSync(counter, "");
    // Each run prints its number; the first two exit (restarted by the policy), later ones stay.
    const script = `echo x >> ${counter}; n=$(wc -l < ${counter}); echo "run $n"; [ "$n" -ge 3 ] && exec sleep 1000; sleep 0.3; exit 1`;
    writeFileSync(join(t.dir, "kraal.toml"), `[agents.w]\ncmd = ["sh", "-c", ${JSON.stringify(script)}]\nrestart = "on-failure"\nbackoff = "300ms"\n`);
    const up = background(["up"]);
    await waitUntil(() => run("logs", "w").stdout.includes("run 1"), { timeoutMs: 10_000, what: "w's first run" });
    const f = background(["logs", "w", "-f"]);
    await waitUntil(() => f.output().includes("run 3\n"), { timeoutMs: 15_000, what: "lines from runs after the policy's restarts" });
    expect(run("restart", "w").code).toBe(0);
    await waitUntil(() => f.output().includes("run 4\n"), { timeoutMs: 15_000, what: "lines from the run kraal restart began" });
    expect(f.proc.exitCode).toBeNull(); // still following
    expect(run("stop", "w").code).toBe(0);
    expect(await Promise.race([f.proc.exited, Bun.sleep(10_000).then(() => "still following")])).toBe(0);
    const out = await f.done();
    for (const n of [1, 2, 3, 4]) expect(out).toContain(`run ${n}\n`);
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  }, 60_000);
});
