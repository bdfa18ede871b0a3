import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kraal, fixture, isDeadOrZombie, isRunning, readyPid, spawnOk, track, waitUntil, useTempState } from "../helpers.ts";

const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const psJson = (...extra: string[]) => JSON.parse(run("ps", "--json", ...extra).stdout) as Record<string, any>[];

describe("spawn", () => {
  test("starts the command in its own process group and records a handle first", async () => {
    const pgid = spawnOk(t, "a", [fixture("forever.sh"), join(t.dir, "ready")]);
    const pid = await readyPid(join(t.dir, "ready"));
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])).toBe(pgid); // same group as the wrapper
    expect(pgid).not.toBe(process.pid);
    const h = JSON.parse(readFileSync(join(t.layout.pids, "a"), "utf8"));
    expect(h).toMatchObject({ v: 1, id: "a", pgid, uid: process.getuid!(), argv: [fixture("forever.sh"), join(t.dir, "ready")], cwd: t.dir });
    expect(h.bootId).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
  });

  test("prints the id and pgid", () => {
    const r = run("spawn", "b", "--", "sleep", "30");
    expect(r.code).toBe(0);
    const m = /^b started, pgid (\d+)\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    track(Number(m![1]));
  });

  test("passes argv through untouched: no shell glues it together", async () => {
    const out = join(t.dir, "args");
    spawnOk(t, "argv", ["sh", "-c", 'printf "%s|" "$@" > "$0"', out, "a b", "$HOME", "'q'", "*", ""]);
    await waitUntil(() => existsSync(out));
    expect(await waitUntil(() => readFileSync(out, "utf8"))).toBe("a b|$HOME|'q'|*||");
  });

  test("--cwd and --env reach the agent; Bun's control variables do not", async () => {
    const out = join(t.dir, "env");
    // (BUN_BE_BUN cannot be tested here: it turns kraal itself into the bun CLI; see spawner.test.ts.)
    const env = { ...t.env, BUN_OPTIONS: "--smol" };
    const r = kraal(["spawn", "e", "--cwd", "/tmp", "--env", "A=1", "--env", "B=x=y", "--", "sh", "-c", `echo "$PWD $A $B \${BUN_OPTIONS:-none} $KRAAL_AGENT_ID" > ${out}`], { env, cwd: t.dir });
    expect(r.code).toBe(0);
    expect(String(await waitUntil(() => existsSync(out) && readFileSync(out, "utf8"))).trim()).toBe("/tmp 1 x=y none e");
  });

  test("refuses an id that is already running, and a bad cwd or command", () => {
    spawnOk(t, "dup", ["sleep", "30"]);
    const again = run("spawn", "dup", "--", "sleep", "30");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already running");
    expect(run("spawn", "x", "--cwd", "/nonexistent", "--", "true")).toMatchObject({ code: 1 });
    const nf = run("spawn", "x", "--", "no-such-command-xyz");
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain("command not found: no-such-command-xyz");
  });

  test("usage errors exit 2 with one line and no stack trace", () => {
    for (const args of [["spawn", "x"], ["spawn", "--", "true"], ["spawn", "x", "--bogus", "--", "true"], ["kill"], ["wait", "x", "--timeout", "soon"], ["frobnicate"], ["spawn", "a\nb", "--", "true"]]) {
      const r = run(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain("    at ");
      expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    }
  });
});

describe("kill", () => {
  test("--signal INT stops an agent that only exits cleanly on SIGINT; an unknown signal is a usage error", async () => {
    const pgid = spawnOk(t, "cli", [fixture("int-only.sh"), join(t.dir, "cli")]);
    await readyPid(join(t.dir, "cli"));
    const r = run("kill", "cli", "--signal", "INT", "--grace", "5s");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cli stopped \(SIGINT, \d+ms\)\n$/);
    expect(isDeadOrZombie(pgid)).toBe(true);
    expect(psJson("-a").find((x) => x.id === "cli")).toMatchObject({ state: "exited", exitCode: 0, signal: null });
    expect(run("kill", "cli", "--signal", "KILLALL").code).toBe(2);
  }, 15_000);

  test("kills the whole group, grandchildren included, and retires the handle", async () => {
    spawnOk(t, "g", [fixture("grandchild.sh"), join(t.dir, "gc")]);
    const grandchild = await readyPid(join(t.dir, "gc"));
    expect(isRunning(grandchild)).toBe(true);
    const r = run("kill", "g");
    expect(r.code).toBe(0);
    expect(isDeadOrZombie(grandchild)).toBe(true); // it ignored TERM, yet it is gone when kill returns
    expect(existsSync(join(t.layout.pids, "g"))).toBe(false);
    expect(psJson("-a").find((x) => x.id === "g")).toMatchObject({ state: "exited", signal: "SIGTERM" });
  });

  test("a TERM-respecting agent is gone well inside the grace", async () => {
    spawnOk(t, "quick", [fixture("forever.sh"), join(t.dir, "r")]);
    await readyPid(join(t.dir, "r"));
    const r = run("kill", "quick", "--grace", "5s");
    expect(r.code).toBe(0);
    const ms = Number(/SIGTERM, (\d+)ms/.exec(r.stdout)![1]);
    expect(ms).toBeLessThan(5000 / 6);
  });

  test("a TERM-ignoring agent is SIGKILLed after the grace, and the kill says so", async () => {
    spawnOk(t, "stubborn", [fixture("ignore-term.sh"), join(t.dir, "r")]);
    const pid = await readyPid(join(t.dir, "r"));
    const r = run("kill", "stubborn", "--grace", "200ms");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stubborn killed \(SIGKILL after 2\d\dms\)/);
    expect(isDeadOrZombie(pid)).toBe(true);
    expect(psJson("-a").find((x) => x.id === "stubborn")).toMatchObject({ signal: "SIGKILL" });
  });

  test("an agent that already exited is a success; an unknown id is an error", async () => {
    spawnOk(t, "done", ["true"]);
    await waitUntil(() => run("status", "done").code === 3);
    expect(run("kill", "done")).toMatchObject({ code: 0, stdout: "done already exited\n" });
    const r = run("kill", "never-heard-of");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no agent named "never-heard-of"');
  });

  test("--all stops every agent in parallel", async () => {
    for (const id of ["x", "y", "z"]) spawnOk(t, id, [fixture("ignore-term.sh"), join(t.dir, id)]);
    for (const id of ["x", "y", "z"]) await readyPid(join(t.dir, id));
    const started = performance.now();
    const r = run("kill", "--all", "--grace", "300ms");
    expect(r.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(3 * 300); // parallel, not one grace after another
    expect(psJson()).toEqual([]);
  });
});

describe("exit status capture", () => {
  test("wait exits with the agent's code, or 128+signal, and 124 on timeout", async () => {
    spawnOk(t, "seven", [fixture("exit-with.sh"), "7"]);
    expect(run("wait", "seven").code).toBe(7);
    spawnOk(t, "sig", [fixture("exit-with.sh"), "0", "USR1"]);
    expect(run("wait", "sig").code).toBe(128 + 10);
    spawnOk(t, "slow", ["sleep", "30"]);
    const r = run("wait", "slow", "--timeout", "100ms");
    expect(r.code).toBe(124);
    expect(r.stderr).toContain("still running");
    expect(run("wait", "nobody").code).toBe(1);
  });

  test("ps -a and status show the exit code of finished agents", async () => {
    spawnOk(t, "three", [fixture("exit-with.sh"), "3"]);
    expect(run("wait", "three").code).toBe(3);
    expect(psJson("-a").find((x) => x.id === "three")).toMatchObject({ state: "exited", exitCode: 3, signal: null });
    const s = run("status", "three", "--json");
    expect(s.code).toBe(3);
    expect(JSON.parse(s.stdout)).toMatchObject({ id: "three", exitCode: 3 });
  });

  test("when the agent exits, helpers it left in the background are ended too", async () => {
    spawnOk(t, "leaky", [fixture("grandchild.sh"), join(t.dir, "gc"), "exit"]);
    const helper = await readyPid(join(t.dir, "gc"));
    await waitUntil(() => isDeadOrZombie(helper), { timeoutMs: 3000, what: "the leftover helper to be killed" });
  });
});

describe("ps, status, logs", () => {
  test("after its agent ends, a wrapper still clearing the group is shown exited with the agent's code", async () => {
    const go = join(t.dir, "go");
    const pgid = spawnOk(t, "ending", ["sh", "-c", `while [ ! -e "$0" ]; do sleep 0.01; done; exit 4`, go]);
    expect(psJson().find((x) => x.id === "ending")).toMatchObject({ state: "running" });
    writeFileSync(go, "");
    // The wrapper waits out its grace in a sleep of its own: stopping that sleep holds the
    // wrapper in its clean-up for as long as this test looks.
    // (Children come and go meanwhile: the agent itself exits; read what is there.)
    const read = (path: string) => {
      try {
        return readFileSync(path, "latin1").trim();
      } catch {
        return "";
      }
    };
    const sleeper = await waitUntil(() => {
      const kids = read(`/proc/${pgid}/task/${pgid}/children`).split(/\s+/).filter(Boolean).map(Number);
      return kids.find((k) => read(`/proc/${k}/comm`) === "sleep");
    }, { what: "the wrapper's grace sleep" });
    process.kill(sleeper, "SIGSTOP");
    try {
      expect(readFileSync(`/proc/${pgid}/comm`, "latin1").trim()).toBe("kraal-ended");
      expect(psJson().find((x) => x.id === "ending")).toMatchObject({ state: "exited", exitCode: 4, reason: expect.stringMatching(/^cleaning up its c?group$/) });
      expect(run("status", "ending").code).toBe(3);
    } finally {
      process.kill(sleeper, "SIGCONT");
    }
    await waitUntil(() => !psJson().some((x) => x.id === "ending"), { what: "the agent to be retired" });
    expect(psJson("-a").find((x) => x.id === "ending")).toMatchObject({ state: "exited", exitCode: 4 });
  });

  test("ps --json is an array of rows with the documented fields", () => {
    const pgid = spawnOk(t, "r", ["sleep", "30"]);
    const rows = psJson();
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0]!)).toEqual(expect.arrayContaining(["id", "state", "pgid", "argv", "cwd", "startedAt", "endedAt", "exitCode", "signal"]));
    expect(rows[0]).toMatchObject({ id: "r", state: "running", pgid, argv: ["sleep", "30"], endedAt: null, exitCode: null });
  });

  test("ps shows original ids, and status exits 0 running, 3 not running, 4 unknown", async () => {
    spawnOk(t, "team/alpha one", ["sleep", "30"]);
    expect(run("ps").stdout).toContain("team/alpha one");
    expect(run("status", "team/alpha one").code).toBe(0);
    run("kill", "team/alpha one");
    expect(run("status", "team/alpha one").code).toBe(3);
    expect(run("status", "ghost").code).toBe(4);
  });

  test("sweep of a state directory that does not exist yet finds nothing and creates nothing", () => {
    const dir = join(t.dir, "not-yet");
    const r = kraal(["--dir", dir, "sweep"], { env: t.env, cwd: t.dir });
    expect(r).toMatchObject({ code: 0, stdout: "0 retired, 0 corrupt, 0 kept\n", stderr: "" });
    expect(existsSync(dir)).toBe(false);
  });

  test("ps on a fresh directory prints only its header and creates nothing", () => {
    expect(run("ps")).toMatchObject({ code: 0, stdout: "ID  STATE  PGID  TIER  STARTED  UPTIME  EXIT  COMMAND\n" });
    expect(run("ps", "--json")).toMatchObject({ code: 0, stdout: "[]\n" });
    expect(existsSync(t.layout.root)).toBe(false);
  });

  test("ps says how many agents finished lately, so a quick failure is not invisible", async () => {
    spawnOk(t, "quick", [fixture("exit-with.sh"), "3"]);
    run("wait", "quick");
    // Once its wrapper has finished clearing the group, the sweep moves it to history.
    const out = await waitUntil(() => (s => !s.includes("quick") && s)(run("ps").stdout), { what: "quick to be retired" });
    expect(out).toBe("ID  STATE  PGID  TIER  STARTED  UPTIME  EXIT  COMMAND\n(1 agent finished in the last hour: kraal ps -a)\n");
    expect(run("ps", "-a").stdout).toContain("quick");
  });

  test("ps --json adds the leader, the agent's pid, the log path, and CPU time and RSS of the group", async () => {
    const pgid = spawnOk(t, "busy", [fixture("grandchild.sh"), join(t.dir, "gc")]);
    const grandchild = await readyPid(join(t.dir, "gc"));
    const row = psJson().find((x) => x.id === "busy")!;
    expect(row).toMatchObject({ leaderPid: pgid, logPath: join(t.layout.logs, "busy.log") });
    expect(row.pid).toBeGreaterThan(1);
    expect(row.processes).toBeGreaterThanOrEqual(3); // the wrapper, the agent, its grandchild
    expect(row.rssBytes).toBeGreaterThan(100 * 1024);
    expect(row.cpuMs).toBeGreaterThanOrEqual(0);
    expect(grandchild).toBeGreaterThan(1);
    expect(JSON.parse(run("status", "busy", "--json").stdout)).toMatchObject({ leaderPid: pgid });
  });

  test("logs holds stdout and stderr; -n limits; the previous run is kept", async () => {
    spawnOk(t, "l", [fixture("exit-with.sh"), "0"]);
    run("wait", "l");
    expect(run("logs", "l").stdout).toBe("out: exiting with 0\nerr: to stderr\n");
    expect(run("logs", "l", "-n", "1").stdout).toBe("err: to stderr\n");
    spawnOk(t, "l", [fixture("exit-with.sh"), "4"]);
    run("wait", "l");
    expect(run("logs", "l").stdout).toStartWith("out: exiting with 4");
    expect(run("logs", "l", "--previous").stdout).toStartWith("out: exiting with 0");
    expect(readdirSync(t.layout.logs).sort()).toEqual(["l.log", "l.log.lock", "l.log.prev"]);
  });

  test("logs -f follows until the agent ends", async () => {
    spawnOk(t, "f", ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.05; done"]);
    const r = run("logs", "f", "-f");
    expect(r.stdout).toBe("line1\nline2\nline3\n");
  });

  test("ps piped into a closed reader does not crash", () => {
    for (let i = 0; i < 3; i++) spawnOk(t, `p${i}`, ["sleep", "30"]);
    const r = Bun.spawnSync(["sh", "-c", `"$0" ps | head -c 1 >/dev/null; echo "status=\${PIPESTATUS:-$?}"`, join(import.meta.dir, "../../dist/kraal")], { env: t.env, stderr: "pipe" });
    expect(r.stderr.toString()).not.toContain("EPIPE");
  });
});

describe("the wrapper in ps aux", () => {
  test("shows as kraal-wrapper with the agent's id, not as a long sh -c script; the agent never sees the script", async () => {
    const envFile = join(t.dir, "env");
    const pgid = spawnOk(t, "named", ["sh", "-c", `env > ${envFile}; exec sleep 1000`]);
    const args = readFileSync(`/proc/${pgid}/cmdline`, "utf8").split("\0");
    expect(args[0]).toBe("kraal-wrapper");
    expect(args.join(" ")).toMatch(/^kraal-wrapper -c eval "\$KRAAL_WRAPPER" named \S+\/exits\/named 0\.300 detached \S* sh -c /);
    expect(args.join(" ").length).toBeLessThan(300);
    const env = await waitUntil(() => (existsSync(envFile) && readFileSync(envFile, "utf8").includes("KRAAL_AGENT_ID") ? readFileSync(envFile, "utf8") : ""), { timeoutMs: 5000, what: "the agent's env" });
    expect(env).not.toContain("KRAAL_WRAPPER");
  }, 20_000);
});
