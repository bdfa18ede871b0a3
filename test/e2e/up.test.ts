import { describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, kraal, fixture, isDeadOrZombie, readyPid, spawnOk, track, waitUntil, useTempState } from "../helpers.ts";

const t = useTempState();

const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
const psJson = (...a: string[]) => JSON.parse(run("ps", "--json", ...a).stdout) as Record<string, any>[];

function config(text: string, name = "kraal.toml"): string {
  const p = join(t.dir, name);
  writeFileSync(p, text);
  return p;
}

/** `kraal up` in the background, in its own group so a test can signal it alone. */
function startUp(args: string[] = []) {
  const p = Bun.spawn([BIN, "up", ...args], { env: t.env, cwd: t.dir, stdout: "pipe", stderr: "pipe", detached: true });
  track(p.pid);
  return { proc: p, stdout: new Response(p.stdout).text(), stderr: new Response(p.stderr).text() };
}

const forever = (id: string) => `[agents.${id}]\ncmd = ["${fixture("forever.sh")}", "${join("READY", id)}"]\n`;

describe("kraal up", () => {
  test("runs every agent with prefixed output, logs each, and exits 0 when all succeed", () => {
    config(`[agents.alpha]\ncmd = "echo one; echo two >&2"\n\n[agents.beta-long]\ncmd = ["sh", "-c", "echo three"]\n`);
    const r = run("up");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toContain("alpha     | one");
    expect(lines).toContain("alpha     | two");
    expect(lines).toContain("beta-long | three");
    expect(r.stdout).not.toContain("\x1b["); // no colour without a terminal
    expect(run("logs", "alpha").stdout.split("\n").sort()).toEqual(["", "one", "two"]);
    expect(psJson("-a").map((x) => [x.id, x.exitCode]).sort()).toEqual([["alpha", 0], ["beta-long", 0]]);
  });

  test("exits 1 when an agent fails and will not restart; --timestamps prefixes the time", () => {
    config(`[agents.bad]\ncmd = "exit 3"\n[agents.good]\ncmd = "true"\n`);
    const r = run("up", "--timestamps");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} bad  \| \[kraal\] exited \(exit 3\)$/m);
  });

  test("reads a Procfile, and only the agents named", () => {
    config("web: echo web up\nworker: echo worker up\n", "Procfile");
    const r = run("up", "worker");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("worker | worker up");
    expect(r.stdout).not.toContain("web");
    expect(run("up", "nope").code).toBe(2);
  });

  test("config errors are one line naming the file and line, exit 2", () => {
    config(`[agents.a]\ncmd = "true"\nrestart = "sometimes"\n`);
    const r = run("up");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('kraal: error: kraal.toml:3: agents.a.restart: expected one of no, on-failure, always, got "sometimes"\n');
    config("web: a\nweb: b\n", "Procfile");
    expect(run("up", "-f", "Procfile").stderr).toContain("Procfile:2: web: duplicate name (first on line 1)");
    expect(run("up", "-f", "missing.toml").code).toBe(2);
  });

  test("restarts on failure with back-off, gives up after max_restarts, and ps shows both", async () => {
    config(`[defaults]\nrestart = "on-failure"\nmax_restarts = 2\nbackoff = "50ms"\n\n[agents.bad]\ncmd = "exit 1"\n\n${forever("keeper")}`.replaceAll("READY", t.dir));
    const up = startUp();
    await readyPid(join(t.dir, "keeper"));
    const bad = await waitUntil(() => psJson().find((x) => x.id === "bad" && x.state === "failed"), { what: "bad to be given up on" });
    expect(bad).toMatchObject({ restarts: 2, exitCode: 1 });
    expect(run("status", "bad").code).toBe(3);
    expect(psJson().find((x) => x.id === "keeper")).toMatchObject({ state: "running" });
    expect(run("down")).toMatchObject({ code: 0, stdout: `stopped kraal up (pid ${up.proc.pid})\n` });
    expect(await up.proc.exited).toBe(143);
    const out = await up.stdout;
    expect(out).toContain("bad    | [kraal] exited (exit 1); restarting in");
    expect(out).toContain("bad    | [kraal] exited (exit 1); gave up after 2 restarts");
    expect(psJson()).toEqual([]);
  });

  test("an agent waiting to restart is shown in state backoff", async () => {
    config(`[agents.slow]\ncmd = "exit 1"\nrestart = "always"\nbackoff = "20s"\n`);
    const up = startUp();
    await waitUntil(() => psJson().find((x) => x.id === "slow" && x.state === "backoff"), { what: "backoff" });
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130); // the back-off sleep is cut short by the stop
  });

  test("restart = always restarts even a clean exit", async () => {
    config(`[agents.again]\ncmd = "echo run $KRAAL_RESTARTS"\nrestart = "always"\nmax_restarts = 2\nbackoff = "10ms"\n`);
    const r = run("up");
    expect(r.code).toBe(1); // gave up: always means it was never supposed to end
    for (const n of [0, 1, 2]) expect(r.stdout).toContain(`again | run ${n}`);
  });

  test("Ctrl-C stops every agent in parallel (TERM, grace, KILL) and exits 130", async () => {
    const ids = ["a", "b", "c", "d", "e"];
    config(`[defaults]\ngrace = "300ms"\n${ids.map((id) => `[agents.${id}]\ncmd = ["${fixture("ignore-term.sh")}", "${join(t.dir, id)}"]\n`).join("")}`);
    const up = startUp();
    const pids = await Promise.all(ids.map((id) => readyPid(join(t.dir, id))));
    const started = performance.now();
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130);
    expect(performance.now() - started).toBeLessThan(3 * 300); // one grace for all, not five in a row
    for (const pid of pids) expect(isDeadOrZombie(pid)).toBe(true);
  });

  test("shutdown says what is happening: Ctrl-C, a second Ctrl-C, and down from another shell", async () => {
    config(`[defaults]\ngrace = "5s"\n${forever("one")}${forever("two")}`.replaceAll("READY", t.dir));
    const up = startUp();
    await Promise.all(["one", "two"].map((id) => readyPid(join(t.dir, id))));
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130);
    expect(await up.stdout).toContain("[kraal] Ctrl-C: stopping 2 agents (grace 5s); Ctrl-C again to force\n");
    for (const id of ["one", "two"]) rmSync(join(t.dir, id));
    const again = startUp();
    await Promise.all(["one", "two"].map((id) => readyPid(join(t.dir, id))));
    expect(run("down").code).toBe(0);
    expect(await again.proc.exited).toBe(143);
    expect(await again.stdout).toMatch(/\[kraal\] kraal down from pid \d+: stopping 2 agents \(grace 5s\)\n/);
  }, 20_000);

  test("a second Ctrl-C skips the grace", async () => {
    config(`[agents.stubborn]\ncmd = ["${fixture("ignore-term.sh")}", "${join(t.dir, "s")}"]\ngrace = "20s"\n`);
    const up = startUp();
    const pid = await readyPid(join(t.dir, "s"));
    up.proc.kill("SIGINT");
    await Bun.sleep(20);
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130);
    expect(isDeadOrZombie(pid)).toBe(true);
    expect(await up.stdout).toContain("[kraal] second Ctrl-C: killing what is left now (SIGKILL)");
  });

  test("if up is SIGKILLed all its agents die with it, and the next up sweeps their handles", async () => {
    config(forever("w1").replaceAll("READY", t.dir) + forever("w2").replaceAll("READY", t.dir));
    const up = startUp();
    const pids = await Promise.all(["w1", "w2"].map((id) => readyPid(join(t.dir, id))));
    up.proc.kill("SIGKILL");
    await waitUntil(() => pids.every(isDeadOrZombie), { timeoutMs: 1500, what: "the agents to die with their supervisor" });
    config(`[agents.after]\ncmd = "true"\n`);
    expect(run("up").code).toBe(0);
    expect(psJson("-a").map((x) => x.id).sort()).toEqual(["after", "w1", "w2"]);
  });

  test("an agent already running is reported and not started twice", () => {
    spawnOk(t, "web", ["sleep", "1000"]);
    config(`[agents.web]\ncmd = "echo second copy"\n[agents.job]\ncmd = "true"\n`);
    const r = run("up");
    expect(r.stdout).toContain("web | [kraal] already running (pgid");
    expect(r.stdout).not.toContain("second copy");
    expect(psJson().find((x) => x.id === "web")).toMatchObject({ state: "running" });
  });

  test("a second up in the same state directory is refused; down with nothing up is a no-op", async () => {
    expect(run("down")).toMatchObject({ code: 0, stderr: "kraal: no kraal up is running here\n" });
    config(forever("only").replaceAll("READY", t.dir));
    const up = startUp();
    await readyPid(join(t.dir, "only"));
    const second = run("up");
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`kraal up is already running here (pid ${up.proc.pid})`);
    expect(run("down").code).toBe(0);
    await up.proc.exited;
  });

  test("Procfile: when one entry exits, up stops the others and exits with its status", async () => {
    config(`web: exec ${fixture("forever.sh")} ${join(t.dir, "web")}\nonce: sleep 0.3; exit 3\n`, "Procfile");
    const up = startUp();
    const web = await readyPid(join(t.dir, "web"));
    expect(await up.proc.exited).toBe(3);
    expect(isDeadOrZombie(web)).toBe(true);
    const out = await up.stdout;
    expect(out).toContain("once | [kraal] exited (exit 3); stopping the others");
    expect(out).toContain("web  | [kraal] stopped (SIGTERM)");
  }, 15_000);

  test("Procfile: --can-die NAME keeps the others running when NAME exits", async () => {
    config(`web: exec ${fixture("forever.sh")} ${join(t.dir, "web")}\nonce: exit 0\n`, "Procfile");
    const up = startUp(["--can-die", "once"]);
    const web = await readyPid(join(t.dir, "web"));
    await waitUntil(() => psJson("-a").find((x) => x.id === "once" && x.history), { what: "once to finish" });
    expect(isDeadOrZombie(web)).toBe(false);
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130);
    expect(run("up", "--can-die", "nope").stderr).toContain('--can-die "nope": no such agent in Procfile');
  }, 15_000);

  test("Procfile: PORT per entry from 5000 in steps of 100, and .env beside it", () => {
    config("a: echo a=$PORT $GREETING\nb: echo b=$PORT\n", "Procfile");
    const plain = run("up", "--can-die", "a", "--can-die", "b");
    expect(plain.stdout).toContain("a | a=5000");
    expect(plain.stdout).toContain("b | b=5100");
    writeFileSync(join(t.dir, ".env"), "# foreman's .env\nGREETING='hello there'\nPORT=6000\n");
    // .env wins over kraal's own environment, for PORT's base too.
    const withEnv = kraal(["up", "--can-die", "a", "--can-die", "b"], { env: { ...t.env, GREETING: "from-shell", PORT: "7700" }, cwd: t.dir });
    expect(withEnv.stdout).toContain("a | a=6000 hello there");
    expect(withEnv.stdout).toContain("b | b=6100");
    expect(run("up", "--port", "7000", "--can-die", "a", "--can-die", "b").stdout).toContain("b | b=7100");
  }, 15_000);

  test("kraal.toml: env_file, overridden by env tables; a missing env file is a config error", () => {
    writeFileSync(join(t.dir, "base.env"), "A=from-file\nB=from-file\nKRAAL_AGENT_ID=from-file\n");
    config(`[defaults]\nenv_file = "base.env"\n[agents.show]\ncmd = "echo $A $B $C $KRAAL_AGENT_ID $KRAAL_RESTARTS"\nenv = { B = "from-table", KRAAL_RESTARTS = "9" }\n`);
    // Lowest first: kraal's environment, the env_file, the env table, then KRAAL_*.
    const shell = { ...t.env, A: "from-shell", B: "from-shell", C: "from-shell" };
    expect(kraal(["up"], { env: shell, cwd: t.dir }).stdout).toContain("show | from-file from-table from-shell show 0");
    config(`[agents.show]\ncmd = "true"\nenv_file = "missing.env"\n`);
    const r = run("up");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("kraal: error: kraal.toml:3: agents.show.env_file: no such file: missing.env\n");
  }, 15_000);

  test("depends_on waits for readiness: the dependent is 'waiting', the dependency 'starting', then both run in order", async () => {
    const flag = join(t.dir, "db-ready");
    config(`[agents.db]\ncmd = ["${fixture("forever.sh")}", "${join(t.dir, "db")}"]\nready = "test -f ${flag}"\n[agents.api]\ncmd = ["${fixture("forever.sh")}", "${join(t.dir, "api")}"]\ndepends_on = ["db"]\n`);
    const up = startUp();
    await readyPid(join(t.dir, "db"));
    const states = () => Object.fromEntries(psJson().map((x) => [x.id, x.state]));
    await waitUntil(() => states().db === "starting" && states().api === "waiting", { what: "db starting, api waiting" });
    expect(run("status", "api").code).toBe(3);
    writeFileSync(flag, "");
    await readyPid(join(t.dir, "api"));
    await waitUntil(() => states().db === "running" && states().api === "running", { what: "both running" });
    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(130);
    const out = await up.stdout;
    expect(out.indexOf("db  | [kraal] ready (test -f")).toBeGreaterThan(-1);
    expect(out.indexOf("db  | [kraal] ready")).toBeLessThan(out.indexOf("api | [kraal] started"));
  }, 20_000);

  test("a log line or a port makes an agent ready; a dependency that never gets ready keeps its dependents from starting", async () => {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      config(
        `[agents.logger]\ncmd = "echo booting; sleep 0.2; echo now listening; sleep 30"\nready = { log = "listening" }\n` +
          `[agents.porter]\ncmd = "sleep 30"\nready = { port = ${server.port} }\n` +
          `[agents.never]\ncmd = "sleep 30"\nready = { cmd = "false", timeout = "300ms" }\n` +
          `[agents.after]\ncmd = "echo after ran"\ndepends_on = ["logger", "porter"]\n` +
          `[agents.blocked]\ncmd = "echo must not run"\ndepends_on = ["never"]\n`,
      );
      const up = startUp();
      await waitUntil(() => psJson("-a").some((x) => x.id === "after" && x.history), { what: "after to run" });
      await waitUntil(() => psJson().find((x) => x.id === "blocked")?.state === "failed", { what: "blocked to be failed" });
      up.proc.kill("SIGINT");
      await up.proc.exited;
      const out = await up.stdout;
      expect(out).toContain('logger  | [kraal] ready (log "listening")');
      expect(out).toContain(`porter  | [kraal] ready (port ${server.port})`);
      expect(out).toContain("never   | [kraal] not ready after 300ms (false)");
      expect(out).toContain("blocked | [kraal] not started: never did not become ready");
      expect(out).not.toContain("must not run");
    } finally {
      server.stop(true);
    }
  }, 20_000);

  test("stop_signal = \"INT\": up stops the agent with SIGINT, and it exits cleanly well inside the grace", async () => {
    config(`[agents.cli]\ncmd = ["${fixture("int-only.sh")}", "${join(t.dir, "cli")}"]\nstop_signal = "INT"\ngrace = "20s"\n`);
    const up = startUp();
    const pid = await readyPid(join(t.dir, "cli"));
    const started = performance.now();
    expect(run("down").code).toBe(0);
    expect(await up.proc.exited).toBe(143);
    expect(performance.now() - started).toBeLessThan(10_000); // nowhere near the 20s grace
    expect(isDeadOrZombie(pid)).toBe(true);
    expect(await up.stdout).toContain("cli | [kraal] stopped (exit 0)");
  }, 20_000);
});
