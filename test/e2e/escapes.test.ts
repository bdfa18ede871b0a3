import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readStat } from "../../src/handle/probes.ts";
import { agentCgroupName, detectContainment } from "../../src/sys/cgroup.ts";
import { killCgroup, readEvents, removeCgroup } from "../../src/sys/cgroup-ops.ts";
import { BIN, killPids, kraal, newTag, readyPid, taggedProcesses, tempState, useTempState, waitUntil } from "../helpers.ts";

/**
 * Issue #9's table, row by row: every common way a process leaves its process group (tmux,
 * ssh-agent, gpg-agent, setsid -f, nohup setsid &, start-stop-daemon --background, a child calling
 * setsid() or setpgid(0, 0)), started by a real agent. In the cgroup tier none of them outlives
 * the agent: not after `kraal kill`, not after `kraal run` returns, not after a detached agent
 * exits on its own. (In the group tier they escape, which containment.test.ts shows once.)
 */
const t = useTempState();
const C = detectContainment(process.env);
const CGROUP = C.tier === "cgroup";
// Whatever a test leaves (even one that timed out, whose finally never runs) is killed by its tags.
const tags: string[] = [];
const tagFor = (label: string) => {
  const tag = newTag(label);
  tags.push(tag);
  return tag;
};
afterEach(() => {
  for (const tag of tags.splice(0)) killPids(taggedProcesses(tag));
});
const run = (args: string[], env: Record<string, string> = {}) => kraal(args, { env: { ...t.env, ...env }, cwd: t.dir });

/** One row of the table: what it needs installed, how many processes it leaves, and its shell line. */
interface Row {
  name: string;
  needs: string[];
  /** Processes the row leaves running (tmux: the server and the pane). */
  leaves: number;
  /** The shell line that starts it; `env` prefixes the command with the row's own tag. */
  sh(dir: string, env: string): string;
}

const ROWS: Row[] = [
  { name: "tmux new-session -d", needs: ["tmux"], leaves: 2, sh: (d, e) => `${e} tmux -S ${d}/tmux.sock -f /dev/null new-session -d 'sleep 1001'` },
  { name: "ssh-agent", needs: ["ssh-agent"], leaves: 1, sh: (d, e) => `${e} ssh-agent -a ${d}/ssh.sock >/dev/null` },
  { name: "gpg-agent --daemon", needs: ["gpg-agent"], leaves: 1, sh: (d, e) => `mkdir -m 700 ${d}/gnupg && ${e} GNUPGHOME=${d}/gnupg gpg-agent --daemon >/dev/null 2>&1` },
  { name: "setsid -f", needs: ["setsid"], leaves: 1, sh: (_, e) => `${e} setsid -f sleep 1002` },
  { name: "nohup setsid &", needs: ["nohup", "setsid"], leaves: 1, sh: (_, e) => `${e} nohup setsid sleep 1003 >/dev/null 2>&1 &` },
  {
    name: "start-stop-daemon --background", needs: ["start-stop-daemon"], leaves: 1,
    sh: (d, e) => `${e} start-stop-daemon --start --background --make-pidfile --pidfile ${d}/ssd.pid --startas /bin/sleep -- 1004`,
  },
  { name: "a child calling os.setsid()", needs: ["python3"], leaves: 1, sh: (_, e) => `${e} python3 -c 'import os, time; os.fork() or (os.setsid(), time.sleep(1005))'` },
  { name: "a child calling setpgid(0, 0)", needs: ["perl"], leaves: 1, sh: (_, e) => `${e} perl -e 'fork or do { setpgrp(0, 0); sleep 1006 }'` },
];
const installed = (r: Row) => r.needs.every((n) => Bun.which(n) !== null);
const slug = (r: Row) => r.name.replace(/[^a-z0-9]+/gi, "_");

/**
 * An agent that starts `rows` (each under its own tag `tag-<row>`, so the test can tell whose
 * processes it sees), then does `then`.
 */
function agent(tag: string, rows: Row[], then: string): string[] {
  const lines = rows.map((r) => r.sh(t.dir, `env KRAAL_TEST_TAG=${tag}-${slug(r)}`));
  return ["sh", "-c", [...lines, then].join("\n")];
}

/**
 * Waits until every row's processes are up and out of the agent's process group (the point of
 * the row: only the cgroup still holds them). Counting merely tagged processes would also count
 * a row's launcher before it forks and detaches.
 */
async function started(tag: string, rows: Row[], agentPgid: number): Promise<void> {
  for (const r of rows) {
    await waitUntil(() => taggedProcesses(`${tag}-${slug(r)}`).filter((p) => readStat(p)?.pgrp !== agentPgid).length >= r.leaves, {
      timeoutMs: 10_000, what: `${r.name} to be up outside the agent's group`,
    });
  }
}

const handleOf = (id: string): { pgid: number; cgroup: { path: string } } => JSON.parse(readFileSync(join(t.layout.pids, id), "utf8"));
/** Poll in the agent's shell for the test's go-ahead, so it exits only once every row is up. */
const untilGo = () => `until [ -e ${t.dir}/go ]; do sleep 0.02; done`;

describe.skipIf(!CGROUP)("the cgroup tier: no row of the escape table survives its agent", () => {
  for (const row of ROWS) {
    test.skipIf(!installed(row))(`kill: ${row.name} leaves no survivor`, async () => {
      const tag = tagFor("esc");
      // The contrast: a process with the agent's tag that kraal did not start must live.
      const bystander = Bun.spawn(["sleep", "1000"], { env: { ...process.env, KRAAL_TEST_TAG: tag } });
      try {
        expect(run(["spawn", "a", "--", ...agent(tag, [row], "sleep 1000")], { KRAAL_TEST_TAG: tag }).code).toBe(0);
        const h = handleOf("a");
        await started(tag, [row], h.pgid);
        const r = run(["kill", "a"]);
        expect(r.code).toBe(0);
        expect(taggedProcesses(tag)).toEqual([bystander.pid]);
        expect(existsSync(h.cgroup.path)).toBe(false);
        expect(JSON.parse(run(["ps", "--json"]).stdout)).toEqual([]);
      } finally {
        bystander.kill("SIGKILL");
        killPids(taggedProcesses(tag));
      }
    }, 20_000);
  }

  const all = ROWS.filter(installed);

  test.skipIf(all.length === 0)("run: every row's daemons are gone when run returns", async () => {
    const tag = tagFor("esc-run");
    try {
      const p = Bun.spawn([BIN, "run", "--no-tty", "--name", "r", "--", ...agent(tag, all, `${untilGo()}; exit 3`)], {
        env: { ...t.env, KRAAL_TEST_TAG: tag }, cwd: t.dir, stdout: "pipe", stderr: "pipe",
      });
      const h = await waitUntil(() => (existsSync(join(t.layout.pids, "r")) ? handleOf("r") : null), { timeoutMs: 10_000, what: "run's handle" });
      await started(tag, all, h.pgid);
      writeFileSync(join(t.dir, "go"), "");
      expect(await p.exited).toBe(3);
      expect(await new Response(p.stderr).text()).toContain("left processes running in its cgroup");
      expect(taggedProcesses(tag)).toEqual([]);
      expect(existsSync(h.cgroup.path)).toBe(false);
    } finally {
      killPids(taggedProcesses(tag));
    }
  }, 30_000);

  test.skipIf(all.length === 0)("a detached agent that exits on its own takes every row's daemons with it", async () => {
    const tag = tagFor("esc-det");
    try {
      expect(run(["spawn", "d", "--", ...agent(tag, all, `${untilGo()}; exit 0`)], { KRAAL_TEST_TAG: tag }).code).toBe(0);
      const h = handleOf("d");
      await started(tag, all, h.pgid);
      writeFileSync(join(t.dir, "go"), "");
      // The wrapper records the exit, waits the grace, then cgroup.kill ends the rest.
      await waitUntil(() => taggedProcesses(tag).length === 0, { timeoutMs: 10_000, what: "no survivors" });
      await waitUntil(() => JSON.parse(run(["ps", "--json"]).stdout).length === 0, { timeoutMs: 10_000, what: "the handle to be retired" });
      expect(existsSync(h.cgroup.path)).toBe(false);
      expect(JSON.parse(run(["ps", "-a", "--json"]).stdout)[0]).toMatchObject({ id: "d", state: "exited", exitCode: 0 });
    } finally {
      killPids(taggedProcesses(tag));
    }
  }, 30_000);

  /**
   * The parent-death guarantee: kraal SIGKILLed while its agent runs. The agent ends on the
   * watcher's TERM at once, and its daemons, outside its group, must still get the watcher's
   * cgroup.kill after the grace, not live on until some later command's sweep.
   */
  async function diesWithSupervisor(label: string, start: (tag: string, argv: string[]) => { proc: ReturnType<typeof Bun.spawn>; id: string }) {
    const tag = tagFor(label);
    const s = start(tag, agent(tag, all, "sleep 1000"));
    try {
      const h = await waitUntil(() => (existsSync(join(t.layout.pids, s.id)) ? handleOf(s.id) : null), { timeoutMs: 10_000, what: "the agent's handle" });
      await started(tag, all, h.pgid);
      s.proc.kill("SIGKILL");
      await s.proc.exited;
      // The grace is 300ms; the watcher's cgroup.kill follows it. No kraal command runs meanwhile.
      await waitUntil(() => taggedProcesses(tag).length === 0, { timeoutMs: 5000, what: `no survivors of the dead ${label}` });
      // The next command retires the handle and removes the emptied cgroup.
      expect(JSON.parse(run(["ps", "--json"]).stdout)).toEqual([]);
      expect(existsSync(h.cgroup.path)).toBe(false);
    } finally {
      s.proc.kill("SIGKILL");
      killPids(taggedProcesses(tag));
    }
  }

  test.skipIf(all.length === 0)("run SIGKILLed: every row's daemons die with it", async () => {
    await diesWithSupervisor("run", (tag, argv) => ({
      id: "r",
      proc: Bun.spawn([BIN, "run", "--no-tty", "--name", "r", "--", ...argv], { env: { ...t.env, KRAAL_TEST_TAG: tag }, cwd: t.dir, stdout: "ignore", stderr: "ignore" }),
    }));
  }, 30_000);

  test.skipIf(all.length === 0)("up SIGKILLed: every row's daemons die with it", async () => {
    await diesWithSupervisor("up", (tag, argv) => {
      writeFileSync(join(t.dir, "kraal.toml"), `[agents.u]\ncmd = ${JSON.stringify(argv)}\n`);
      return { id: "u", proc: Bun.spawn([BIN, "up"], { env: { ...t.env, KRAAL_TEST_TAG: tag }, cwd: t.dir, stdout: "ignore", stderr: "ignore" }) };
    });
  }, 30_000);
});

describe.skipIf(!CGROUP)("the cgroup tier's edges", () => {
  test("a cgroup of another state directory is never touched: kill --all and sweep in one leave the other's agent and cgroups alone", async () => {
    const tag = tagFor("esc-two");
    const other = tempState();
    const otherRun = (args: string[]) => kraal(args, { env: { ...other.env, KRAAL_TEST_TAG: `${tag}-other` }, cwd: other.dir });
    // Both name their agent "a": the state directory is part of the cgroup's name.
    const stray = join(C.base!, agentCgroupName(other.layout.root, "crashed"));
    try {
      expect(run(["spawn", "a", "--", "sleep", "1000"], { KRAAL_TEST_TAG: `${tag}-mine` }).code).toBe(0);
      expect(otherRun(["spawn", "a", "--", "sleep", "1000"]).code).toBe(0);
      const mine = handleOf("a").cgroup.path;
      const theirs: string = JSON.parse(readFileSync(join(other.layout.pids, "a"), "utf8")).cgroup.path;
      expect(theirs).not.toBe(mine);
      mkdirSync(stray); // the other directory's empty leftover of a crash: its own sweep's to remove
      expect(run(["kill", "--all"]).code).toBe(0);
      const sw = run(["sweep"]);
      expect(sw.code).toBe(0);
      expect(sw.stdout).not.toContain(theirs);
      expect(sw.stdout).not.toContain(stray);
      expect(taggedProcesses(`${tag}-mine`)).toEqual([]);
      expect(existsSync(mine)).toBe(false);
      expect(taggedProcesses(`${tag}-other`).length).toBe(2); // the other's wrapper and its sleep
      expect(readEvents(theirs)?.populated).toBe(true);
      expect(existsSync(stray)).toBe(true);
      expect(JSON.parse(otherRun(["ps", "--json"]).stdout)[0]).toMatchObject({ id: "a", state: "running", tier: "cgroup" });
      // Its own sweep and kill do clean up.
      expect(otherRun(["sweep"]).stdout).toContain(`removed empty cgroup ${stray}`);
      expect(otherRun(["kill", "a"]).code).toBe(0);
      expect(existsSync(theirs)).toBe(false);
    } finally {
      otherRun(["kill", "--all"]);
      try {
        rmdirSync(stray);
      } catch {}
      other.cleanup();
    }
  }, 30_000);

  test("zombies are not members: an agent whose only member left is a zombie is exited, and is retired with its cgroup", async () => {
    const tag = tagFor("esc-zombie");
    // The agent: a perl that leaves a zombie child while it runs, until the test says go.
    const script = `my $z = fork; exit 0 unless $z; open my $f, ">", "${t.dir}/zpid"; print $f $z; close $f; sleep 0.02 until -e "${t.dir}/go"`;
    expect(run(["spawn", "z", "--", "perl", "-e", script], { KRAAL_TEST_TAG: tag }).code).toBe(0);
    const cg = handleOf("z").cgroup.path;
    const inner = await readyPid(join(t.dir, "zpid"), 10_000);
    await waitUntil(() => readStat(inner)?.state === "Z", { timeoutMs: 10_000, what: "the agent's zombie child" });
    const status = run(["status", "z", "--json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: "z", state: "running" });
    // A zombie whose parent is outside the cgroup outlives the agent: a process that joins the
    // agent's cgroup and exits, its parent (outside) never reaping it.
    const holder = Bun.spawn(["perl", "-e", `my $p = fork; if (!$p) { open my $f, ">", "${cg}/cgroup.procs" or die; print $f "0"; close $f or die; exit 0 } open my $r, ">", "${t.dir}/outer"; print $r $p; close $r; sleep 1000`], {
      env: { ...process.env, KRAAL_TEST_TAG: tag }, stderr: "inherit",
    });
    try {
      const outer = await readyPid(join(t.dir, "outer"), 10_000);
      await waitUntil(() => readStat(outer)?.state === "Z", { timeoutMs: 10_000, what: "the outside zombie" });
      expect(readFileSync(`/proc/${outer}/cgroup`, "utf8")).toContain(cg.slice(cg.lastIndexOf("/")));
      writeFileSync(join(t.dir, "go"), "");
      await waitUntil(() => JSON.parse(run(["ps", "--json"]).stdout).length === 0, { timeoutMs: 10_000, what: "the agent to be retired" });
      expect(readStat(outer)?.state).toBe("Z"); // still there, still unreaped
      expect(JSON.parse(run(["ps", "-a", "--json"]).stdout)[0]).toMatchObject({ id: "z", state: "exited", exitCode: 0 });
      expect(run(["status", "z"]).code).toBe(3);
      expect(existsSync(cg)).toBe(false);
    } finally {
      holder.kill("SIGKILL");
      await holder.exited;
    }
  }, 30_000);

  test("without KRAAL_CGROUP the base is a kraal subtree of kraal's own cgroup (from /proc/self/cgroup)", () => {
    const tag = tagFor("esc-own");
    const own = join(C.base!, `own-${process.pid}`);
    mkdirSync(own);
    const { KRAAL_CGROUP: _, ...env } = t.env;
    /** kraal started from a shell that first moved itself into `own`. */
    const inOwn = (...args: string[]) => {
      const r = Bun.spawnSync(["sh", "-c", `echo $$ > ${own}/cgroup.procs && exec "$@"`, "sh", BIN, ...args], { env: { ...env, KRAAL_TEST_TAG: tag }, cwd: t.dir, stdout: "pipe", stderr: "pipe" });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    try {
      expect(inOwn("doctor").stdout).toContain(`ok   base (own subtree): ${own}/kraal\n`);
      expect(inOwn("spawn", "o", "--", "sh", "-c", "setsid -f sleep 1000; sleep 1001")).toMatchObject({ code: 0, stderr: "" });
      const cg = handleOf("o").cgroup.path;
      expect(cg).toBe(join(own, "kraal", agentCgroupName(t.layout.root, "o")));
      // kill from anywhere: the handle's cgroup is what counts, not the caller's.
      expect(kraal(["kill", "o"], { env, cwd: t.dir }).code).toBe(0);
      expect(taggedProcesses(tag)).toEqual([]);
      expect(existsSync(cg)).toBe(false);
    } finally {
      killPids(taggedProcesses(tag));
      for (const dir of [join(own, "kraal"), own]) {
        try {
          rmdirSync(dir);
        } catch {}
      }
    }
  }, 30_000);

  test("kraal dead between making the cgroup and spawning: the next sweep removes the empty cgroup, and the id spawns again", () => {
    const tag = tagFor("esc-crash");
    const path = join(C.base!, agentCgroupName(t.layout.root, "c"));
    // The spawn that died had made the state directory before the cgroup: one that ran before did too.
    expect(run(["spawn", "before", "--", "true"], { KRAAL_TEST_TAG: tag }).code).toBe(0);
    expect(run(["kill", "before"]).code).toBe(0);
    mkdirSync(path); // exactly what a spawn killed right after mkdir leaves
    const sw = run(["sweep"]);
    expect(sw.code).toBe(0);
    expect(sw.stdout).toContain(`removed empty cgroup ${path}`);
    expect(existsSync(path)).toBe(false);
    // And without a sweep in between, spawn itself replaces the empty leftover with a fresh cgroup.
    mkdirSync(path);
    const leftover = lstatSync(path).ino;
    expect(run(["spawn", "c", "--", "sleep", "1000"], { KRAAL_TEST_TAG: tag }).code).toBe(0);
    expect(handleOf("c").cgroup).toMatchObject({ path });
    expect(lstatSync(path).ino).not.toBe(leftover);
    expect(run(["kill", "c"]).code).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(taggedProcesses(tag)).toEqual([]);
  }, 30_000);
});

/**
 * The tier as an unprivileged user sees it. With a delegated subtree (a cgroup directory and its
 * cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the user, which is what
 * systemd's Delegate=yes does) and kraal started from inside it, the user's agents get the cgroup
 * tier; without, the group tier, and doctor says why.
 */
const USER = "kraal-t-deleg";
const canDelegate = CGROUP && process.getuid!() === 0 && !!process.env.KRAAL_CGROUP && ["useradd", "userdel", "setpriv", "setsid"].every((b) => Bun.which(b) !== null);
let userMade = false;
function delegUser(): { uid: number; gid: number } {
  const id = (flag: string) => Bun.spawnSync(["id", flag, USER], { stdout: "pipe", stderr: "ignore" });
  if (id("-u").exitCode !== 0) {
    const r = Bun.spawnSync(["useradd", "-M", "-s", "/usr/sbin/nologin", USER], { stderr: "pipe" });
    if (r.exitCode !== 0 && id("-u").exitCode !== 0) throw new Error(`useradd: ${r.stderr}`);
    userMade = true;
  }
  return { uid: Number(id("-u").stdout.toString()), gid: Number(id("-g").stdout.toString()) };
}
afterAll(() => {
  if (userMade) Bun.spawnSync(["userdel", USER]);
});

describe.skipIf(!canDelegate)("an unprivileged user", () => {
  test("with a delegated subtree gets the cgroup tier (setsid -f does not escape); without, the group tier, and doctor says why", async () => {
    const tag = tagFor("esc-user");
    const { uid, gid } = delegUser();
    chmodSync(t.dir, 0o755);
    const home = join(t.dir, "home");
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    const D = join(process.env.KRAAL_CGROUP!, `deleg-${process.pid}`);
    mkdirSync(D);
    for (const f of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) chownSync(join(D, f), uid, gid);
    const shell = join(D, "shell"); // root's, like the user's login scope: only D itself is the user's
    mkdirSync(shell);
    /** kraal as the user; `inside` starts it from a shell in the delegated subtree, as a delegated login would be. */
    const asUser = (args: string[], opts: { inside?: boolean; delegated?: boolean } = {}) => {
      const env = ["PATH=/usr/bin:/bin", `HOME=${home}`, `KRAAL_DIR=${join(home, "state")}`, "NO_COLOR=1", `KRAAL_TEST_TAG=${tag}`, ...(opts.delegated ? [`KRAAL_CGROUP=${D}`] : [])];
      const user = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "env", "-i", ...env, BIN, ...args];
      const argv = opts.inside ? ["sh", "-c", `echo $$ > ${shell}/cgroup.procs && exec "$@"`, "sh", ...user] : user;
      const r = Bun.spawnSync(argv, { cwd: home, stdout: "pipe", stderr: "pipe", timeout: 15_000 });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    try {
      const sp = asUser(["spawn", "u", "--json", "--", "sh", "-c", "setsid -f sleep 1000; sleep 1001"], { inside: true, delegated: true });
      expect(sp.stderr).toBe("");
      expect(sp.code).toBe(0);
      const pgid: number = JSON.parse(sp.stdout).pgid;
      await waitUntil(() => taggedProcesses(tag).some((p) => readStat(p)?.pgrp !== pgid), { timeoutMs: 10_000, what: "the setsid'd sleep" });
      const rows = JSON.parse(asUser(["ps", "--json"], { delegated: true }).stdout);
      expect(rows[0]).toMatchObject({ id: "u", state: "running", tier: "cgroup" });
      const cg: string = JSON.parse(readFileSync(join(home, "state", "pids", "u"), "utf8")).cgroup.path;
      expect(cg.startsWith(`${D}/`)).toBe(true);
      expect(lstatSync(cg).uid).toBe(uid); // made by the user's kraal, not by root
      // kill from an ordinary shell of the user (outside the subtree): the handle's cgroup is enough.
      const k = asUser(["kill", "u"], { delegated: true });
      expect(k.code).toBe(0);
      expect(taggedProcesses(tag)).toEqual([]);
      expect(existsSync(cg)).toBe(false);

      // Without delegation: the group tier, and why.
      const doc = asUser(["doctor"]);
      expect(doc.code).toBe(0);
      expect(doc.stdout).toMatch(/^tier: group\n/);
      expect(doc.stdout).toContain(`FAIL base (own subtree): `);
      expect(doc.stdout).toContain(`is not writable by uid ${uid}`);
      expect(doc.stdout).toContain("fix: ");
      // Delegated, but started outside the subtree: moving a process into it needs the common ancestor.
      const outside = asUser(["doctor"], { delegated: true });
      expect(outside.stdout).toMatch(/^tier: group\n/);
      expect(outside.stdout).toContain("FAIL move into base");
      const g = asUser(["spawn", "g", "--json", "--", "sleep", "1002"]);
      expect(g.code).toBe(0);
      expect(JSON.parse(asUser(["ps", "--json"]).stdout)[0]).toMatchObject({ id: "g", tier: "group" });
      expect(asUser(["kill", "g"]).code).toBe(0);
    } finally {
      killPids(taggedProcesses(tag));
      for (const dir of [D]) {
        killCgroup(dir);
        await waitUntil(() => readEvents(dir)?.populated !== true, { timeoutMs: 5000 }).catch(() => {});
        removeCgroup(dir);
      }
    }
  }, 30_000);
});
