import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { detectContainment } from "../../src/sys/cgroup.ts";
import { killCgroup, readEvents } from "../../src/sys/cgroup-ops.ts";
import { kraal, useTempState, waitUntil } from "../helpers.ts";

const t = useTempState();
const CGROUP = detectContainment(process.env).tier === "cgroup";
const run = (args: string[], env: Record<string, string> = {}) => kraal(args, { env: { ...t.env, ...env }, cwd: t.dir });

/**
 * Processes whose environment carries KRAAL_TEST_TAG=`tag`: found by listing /proc, which only a
 * test may do. Zombies do not count.
 */
function survivors(tag: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/environ`, "latin1").split("\0").includes(`KRAAL_TEST_TAG=${tag}`)) continue;
      if (/\) Z /.test(readFileSync(`/proc/${d}/stat`, "latin1"))) continue;
      out.push(Number(d));
    } catch {}
  }
  return out;
}

/** Kills what a failed test left, by pid (each was found by its tag). */
function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

let n = 0;
/** A tag unique to one agent of one test, and the env that carries it. */
function tagged(): { tag: string; env: Record<string, string> } {
  const tag = `cg-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}`;
  return { tag, env: { KRAAL_TEST_TAG: tag } };
}

/**
 * An agent that leaves the usual escapees behind: `setsid -f`, a tmux server with a pane
 * (a private socket), a child calling setsid() — each ignoring nothing, plus one setsid'd child
 * that ignores TERM, so only cgroup.kill ends it. `then` is what the agent does afterwards.
 */
function escapingAgent(tag: string, then: string): string[] {
  return ["sh", "-c", [
    "setsid -f sleep 1000",
    `tmux -L kraal-${tag} -f /dev/null new-session -d 'sleep 1001'`,
    `perl -e 'use POSIX; if (fork() == 0) { setsid(); sleep 1002 }'`,
    `setsid -f sh -c 'trap "" TERM; exec sleep 1004'`,
    `echo ready > ${t.dir}/ready`,
    then,
  ].join("; ")];
}

/** Waits for the agent's setup, then for its escapees to exist (the tmux pane starts last). */
async function readyWith(tag: string, atLeast: number): Promise<void> {
  await waitUntil(() => existsSync(join(t.dir, "ready")), { timeoutMs: 10_000, what: "the agent's ready file" });
  await waitUntil(() => survivors(tag).length >= atLeast, { timeoutMs: 10_000, what: `${atLeast} tagged processes` });
}

function cgroupOf(id: string): { path: string; ino: number } {
  return JSON.parse(readFileSync(join(t.layout.pids, id), "utf8")).cgroup;
}

describe.skipIf(!CGROUP)("the cgroup tier: nothing an agent starts outlives it", () => {
  test("ps counts the processes that escaped the group; kill: setsid -f, tmux, a setsid() child and a TERM-ignoring daemon are all gone, and so is the cgroup", async () => {
    const { tag, env } = tagged();
    const bystander = Bun.spawn(["sleep", "1000"], { env: { ...process.env, KRAAL_TEST_TAG: tag } });
    try {
      expect(run(["spawn", "esc", "--", ...escapingAgent(tag, "sleep 1003")], env).code).toBe(0);
      await readyWith(tag, 7);
      const rows = JSON.parse(run(["ps", "--json"]).stdout);
      expect(rows[0]).toMatchObject({ id: "esc", tier: "cgroup" });
      // wrapper, agent sh, sleep 1003 in the group; setsid -f sleep, tmux server and pane, the perl
      // child and the TERM-ignoring sleep outside
      expect(rows[0].members).toBeGreaterThanOrEqual(8);
      expect(rows[0].escapees).toBe(rows[0].members - 3);
      expect(run(["ps"]).stdout).toMatch(new RegExp(`esc +running +\\d+ +cgroup +${rows[0].members}, ${rows[0].escapees} escaped `));
      expect(JSON.parse(run(["status", "esc", "--json"]).stdout)).toMatchObject({ members: rows[0].members, escapees: rows[0].escapees });
      const cg = cgroupOf("esc");
      expect(readEvents(cg.path)?.populated).toBe(true);
      const r = run(["kill", "esc"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("esc killed"); // the TERM-ignoring one needed cgroup.kill
      expect(survivors(tag)).toEqual([bystander.pid]); // the innocent process with the same tag lives
      expect(existsSync(cg.path)).toBe(false);
    } finally {
      bystander.kill("SIGKILL");
      killAll(survivors(tag));
    }
  }, 30_000);

  test("ps counts the members of a child cgroup an agent made, beside agents without one", async () => {
    const { tag, env } = tagged();
    try {
      for (const id of ["nested", "plain"]) {
        expect(run(["spawn", id, "--", "sh", "-c", `sleep 1000 & echo $! > ${t.dir}/${id}.pid; wait`], env).code).toBe(0);
      }
      await waitUntil(() => existsSync(join(t.dir, "nested.pid")) && existsSync(join(t.dir, "plain.pid")), { what: "the agents' pid files" });
      const flat = JSON.parse(run(["ps", "--json"]).stdout) as { id: string; members: number; escapees: number }[];
      expect(flat.map((r) => [r.id, r.members, r.escapees])).toEqual([["nested", 3, 0], ["plain", 3, 0]]);
      // The agent's sleep moves into a child cgroup of the agent's own (as a nested kraal's agent would be).
      const inner = join(cgroupOf("nested").path, "inner");
      mkdirSync(inner);
      writeFileSync(join(inner, "cgroup.procs"), readFileSync(join(t.dir, "nested.pid"), "utf8").trim());
      const rows = JSON.parse(run(["ps", "--json"]).stdout) as { id: string; members: number; escapees: number }[];
      expect(rows.map((r) => [r.id, r.members, r.escapees])).toEqual([["nested", 3, 0], ["plain", 3, 0]]);
      expect(run(["ps"]).stdout).toMatch(/nested +running +\d+ +cgroup +3 /);
      expect(run(["kill", "--all"]).code).toBe(0);
      expect(existsSync(inner)).toBe(false);
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("kill: a daemon outside the agent's group gets the stop signal and the grace to clean up, as the agent does", async () => {
    const { tag, env } = tagged();
    // The daemon leaves the group (setsid -f) and, on the signal it traps, writes which one it got and exits.
    const daemon = (sig: string) => `setsid -f sh -c 'trap "echo ${sig} > ${t.dir}/cleaned; exit 0" ${sig}; echo up > ${t.dir}/ready; while :; do sleep 0.05; done'`;
    try {
      for (const sig of ["TERM", "INT"]) {
        rmSync(join(t.dir, "ready"), { force: true });
        expect(run(["spawn", "d", "--", "sh", "-c", `${daemon(sig)}; exec sleep 1000`], env).code).toBe(0);
        await waitUntil(() => existsSync(join(t.dir, "ready")), { timeoutMs: 10_000, what: "the daemon" });
        expect(JSON.parse(run(["ps", "--json"]).stdout)[0].escapees).toBeGreaterThanOrEqual(1); // the daemon (and its sleep)
        const r = run(["kill", "d", "--signal", sig, "--grace", "5s"]);
        expect(r.code).toBe(0);
        expect(r.stdout).toStartWith(`d stopped (SIG${sig}`); // everyone left on the signal: no SIGKILL was needed
        expect(readFileSync(join(t.dir, "cleaned"), "utf8")).toBe(`${sig}\n`);
        expect(survivors(tag)).toEqual([]);
      }
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("run: when the command exits, its escapees are ended before run returns", async () => {
    const { tag, env } = tagged();
    try {
      const r = run(["run", "--no-tty", "--name", "r1", "--", ...escapingAgent(tag, "sleep 0.5; exit 7")], env);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain("left processes running in its cgroup");
      expect(survivors(tag)).toEqual([]);
      expect(readdirSync(t.layout.pids)).toEqual([]);
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("a detached agent that exits on its own takes its escapees with it", async () => {
    const { tag, env } = tagged();
    try {
      expect(run(["spawn", "det", "--", ...escapingAgent(tag, "sleep 0.5")], env).code).toBe(0);
      const cg = cgroupOf("det");
      await readyWith(tag, 5);
      // The wrapper ends the rest after the grace (cgroup.kill); ps then retires it and removes the cgroup.
      await waitUntil(() => survivors(tag).length === 0, { timeoutMs: 10_000, what: "no survivors" });
      await waitUntil(() => JSON.parse(run(["ps", "--json"]).stdout).length === 0, { timeoutMs: 10_000, what: "the handle to be retired" });
      expect(existsSync(cg.path)).toBe(false);
      const past = JSON.parse(run(["ps", "-a", "--json"]).stdout);
      expect(past[0]).toMatchObject({ id: "det", state: "exited", exitCode: 0 });
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("a cgroup removed and made again under the same name is not ours: its process survives kill", async () => {
    const { tag, env } = tagged();
    let stranger: ReturnType<typeof Bun.spawn> | undefined;
    const cg = { path: "", ino: 0 };
    try {
      expect(run(["spawn", "re", "--", "sleep", "1000"], env).code).toBe(0);
      Object.assign(cg, cgroupOf("re"));
      killCgroup(cg.path);
      await waitUntil(() => readEvents(cg.path)?.populated === false, { timeoutMs: 5000, what: "the cgroup to empty" });
      rmdirSync(cg.path);
      mkdirSync(cg.path);
      stranger = Bun.spawn(["sleep", "1000"], { env: { ...process.env, KRAAL_TEST_TAG: tag }, cgroup: cg.path });
      const r = run(["kill", "re"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("already exited");
      expect(survivors(tag)).toEqual([stranger.pid]);
      expect(existsSync(cg.path)).toBe(true); // not ours to remove
    } finally {
      stranger?.kill("SIGKILL");
      await stranger?.exited;
      killAll(survivors(tag));
      if (cg.path) {
        await waitUntil(() => readEvents(cg.path)?.populated !== true, { timeoutMs: 5000 }).catch(() => {});
        try {
          rmdirSync(cg.path);
        } catch {}
      }
    }
  }, 30_000);

  test("sweep: a populated cgroup without a handle is reported, never killed; an empty one is removed", async () => {
    const { tag, env } = tagged();
    try {
      expect(run(["spawn", "lost", "--", "sleep", "1000"], env).code).toBe(0);
      expect(run(["spawn", "gone", "--", "sleep", "1000"], env).code).toBe(0);
      const lost = cgroupOf("lost");
      const gone = cgroupOf("gone");
      unlinkSync(join(t.layout.pids, "lost"));
      unlinkSync(join(t.layout.pids, "gone"));
      killCgroup(gone.path);
      await waitUntil(() => readEvents(gone.path)?.populated === false, { timeoutMs: 5000, what: "gone's cgroup to empty" });
      const r = run(["sweep"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`cgroup ${lost.path} has processes but no handle: left alone`);
      expect(r.stdout).toContain(`removed empty cgroup ${gone.path}`);
      expect(survivors(tag).length).toBe(2); // lost's wrapper and its sleep
      expect(existsSync(gone.path)).toBe(false);
      killCgroup(lost.path);
      await waitUntil(() => readEvents(lost.path)?.populated === false, { timeoutMs: 5000, what: "lost's cgroup to empty" });
      rmdirSync(lost.path);
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("KRAAL_TIER=group: the group tier, which setsid escapes (the reason for the cgroup tier)", async () => {
    const { tag, env } = tagged();
    try {
      expect(run(["spawn", "g", "--", "sh", "-c", `setsid -f sleep 1000; echo ready > ${t.dir}/ready; sleep 1001`], { ...env, KRAAL_TIER: "group" }).code).toBe(0);
      await readyWith(tag, 2);
      expect(JSON.parse(run(["ps", "--json"]).stdout)[0]).toMatchObject({ id: "g", tier: "group" });
      expect(run(["ps"]).stdout).toMatch(/^g +running +\d+ +group /m);
      expect(run(["kill", "g"]).code).toBe(0);
      expect(survivors(tag).length).toBe(1);
    } finally {
      killAll(survivors(tag));
    }
  }, 30_000);

  test("doctor names the tier, the base and every check", () => {
    const r = run(["doctor"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tier: cgroup, agent cgroups in \//);
    expect(r.stdout).toContain("ok   cgroup.kill");
    // The race-free signal checks, both tiers' (this kernel is 6.9 or newer).
    expect(r.stdout).toMatch(/^ok   pidfd_open: /m);
    expect(r.stdout).toMatch(/^ok   PIDFD_SIGNAL_PROCESS_GROUP: /m);
    const g = run(["doctor", "--json"], { KRAAL_TIER: "group" });
    expect(JSON.parse(g.stdout)).toMatchObject({ tier: "group", requested: "group" });
    // The group tier says what escapes it.
    expect(run(["doctor"], { KRAAL_TIER: "group" }).stdout).toStartWith("tier: group (KRAAL_TIER=group)\n  an agent's process group is ended; a process that leaves it (setsid, tmux, ssh-agent, daemons) survives kill\n");
    const bad = run(["doctor"], { KRAAL_TIER: "cgroup", KRAAL_CGROUP: join(t.dir, "no-such-cgroup") });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("FAIL base (KRAAL_CGROUP)");
    const refused = run(["spawn", "x", "--", "true"], { KRAAL_TIER: "cgroup", KRAAL_CGROUP: join(t.dir, "no-such-cgroup") });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("KRAAL_TIER=cgroup, but the cgroup tier is not available here");
  }, 30_000);
});
