import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { kraal, spawnOk, useTempState, waitUntil } from "../helpers.ts";

const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });

/** `lines` history lines over `ids` ids, about 520 bytes each, oldest first; run i of every id has startedAt i. */
function fakeHistory(lines: number, ids: number): string {
  const pad = "x".repeat(220);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const id = `agent-${i % ids}`;
    out.push(JSON.stringify({ id, pgid: 10000 + i, argv: ["sh", "-c", `echo ${pad} ${i}`], cwd: "/work/some/project/dir", startedAt: 1700000000000 + i * 1000, endedAt: 1700000000500 + i * 1000, exitCode: i % 7, signal: null, state: "exited", reason: "exit record", leaderStart: 123456 + i, bootId: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", mode: "detached" }));
  }
  return out.join("\n") + "\n";
}

function timed(...args: string[]): { code: number; ms: number; stdout: string } {
  const t0 = performance.now();
  const r = run(...args);
  return { code: r.code, ms: performance.now() - t0, stdout: r.stdout };
}

describe("history stays bounded", () => {
  test("past 8 MiB it is compacted to the last 20 runs per id, newest first kept; reads stay quick", async () => {
    spawnOk(t, "seed", ["true"]);
    expect(run("wait", "seed").code).toBe(0);
    // Its wrapper clears the group for up to a grace after the exit; once it is gone a sweep retires
    // the seed, whose history line the fake history below then replaces.
    await waitUntil(() => run("ps", "--json").stdout === "[]\n", { what: "the seed to be retired" });
    const lines = 60_000; // about 31 MB over 200 ids: 300 runs each
    writeFileSync(t.layout.history, fakeHistory(lines, 200));
    expect(statSync(t.layout.history).size).toBeGreaterThan(25 * 1024 * 1024);
    // The first command that sweeps compacts it (under the state lock).
    const first = timed("status", "nope");
    expect(first.code).toBe(4);
    const size = statSync(t.layout.history).size;
    expect(size).toBeLessThanOrEqual(4 * 1024 * 1024);
    const kept = readFileSync(t.layout.history, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    const perId = new Map<string, number>();
    for (const e of kept) if (e.id !== "seed") perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
    expect(Math.max(...perId.values())).toBeLessThanOrEqual(20);
    expect(perId.size).toBe(200); // every id keeps its latest runs
    // Oldest first, and the very last run of every id survived.
    expect(kept.filter((e) => e.id !== "seed").at(-1).pgid).toBe(10000 + lines - 1);
    const last = JSON.parse(run("status", "agent-7", "--json").stdout);
    expect(last).toMatchObject({ id: "agent-7", exitCode: (lines - 200 + 7) % 7, pgid: 10000 + lines - 200 + 7 });
    // Afterwards: unknown ids and ps -a --json are quick.
    const unknown = timed("status", "nope");
    expect(unknown.code).toBe(4);
    expect(unknown.ms).toBeLessThan(2000);
    const all = timed("ps", "-a", "--json");
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).length).toBe(kept.length); // history is all there is: no agent runs
    expect(all.ms).toBeLessThan(4000);
    console.log(`history ${lines} lines: first status (compacts) ${Math.round(first.ms)} ms; then status of an unknown id ${Math.round(unknown.ms)} ms, ps -a --json ${Math.round(all.ms)} ms over ${kept.length} kept lines`);
  }, 60_000);

  test("a read that does not sweep streams a large history (logs of an unknown id)", () => {
    spawnOk(t, "seed", ["true"]);
    expect(run("wait", "seed").code).toBe(0);
    writeFileSync(t.layout.history, fakeHistory(60_000, 200));
    const r = Bun.spawnSync(["sh", "-c", `/usr/bin/time -f %M -o "$1" "$0" logs no-such 2>/dev/null; cat "$1"`, `${import.meta.dir}/../../dist/kraal`, `${t.dir}/rss`], { env: t.env, stdout: "pipe", timeout: 30_000 });
    expect(Number(r.stdout.toString().trim().split("\n").at(-1))).toBeLessThan(120 * 1024); // KB: the 31 MB file, read to its end, is never held whole
    expect(run("logs", "no-such").stderr).toContain('no agent named "no-such"');
  }, 60_000);
});
