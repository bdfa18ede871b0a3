import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, fixture, isDeadOrZombie, kraal, readyPid, track, useTempState, waitUntil } from "../helpers.ts";

/**
 * `kraal run` in a real terminal: tmux runs a shell, send-keys types, capture-pane reads the
 * screen. Each test has its own tmux server (-L), killed afterwards.
 */
const t = useTempState();
const servers: string[] = [];
let serial = 0;
afterEach(() => {
  for (const s of servers.splice(0)) Bun.spawnSync(["tmux", "-L", s, "kill-server"]);
});

/** A terminal running `shell` (an interactive sh by default; bash for job control) in the test's directory. */
function terminal(shell: string[] = ["sh"]) {
  const socket = `kraal-test-${process.pid}-${serial++}`;
  servers.push(socket);
  const tmux = (...args: string[]) => Bun.spawnSync(["tmux", "-L", socket, ...args], { stdout: "pipe", stderr: "pipe" });
  // The test run's cgroup base is passed on explicitly: a tmux session does not get this process's environment.
  const cgroup = process.env.KRAAL_CGROUP ? [`KRAAL_CGROUP=${process.env.KRAAL_CGROUP}`] : [];
  const r = tmux("new-session", "-d", "-x", "100", "-y", "30", "-c", t.dir, "env", `KRAAL_DIR=${t.env.KRAAL_DIR}`, ...cgroup, "PS1=$ ", ...shell);
  if (r.exitCode !== 0) throw new Error(`tmux: ${r.stderr}`);
  const screen = () => tmux("capture-pane", "-p").stdout.toString();
  return {
    type: (...keys: string[]) => tmux("send-keys", ...keys),
    resize: (cols: number, rows: number) => tmux("resize-window", "-x", String(cols), "-y", String(rows)),
    screen,
    /** Waits until the screen shows `text`; if it never does, the error shows the screen. */
    shows: (text: string | RegExp, what = String(text)) =>
      waitUntil(() => (typeof text === "string" ? screen().includes(text) : text.test(screen())), { timeoutMs: 10_000, intervalMs: 20, what: `the screen to show ${what}` }).catch((e: Error) => {
        throw new Error(`${e.message}; the screen:\n${screen()}`);
      }),
  };
}

const hasTmux = Bun.which("tmux") !== null;
if (!hasTmux) console.warn("terminal tests skipped: tmux is not installed (apt-get install tmux; .ci/run installs it)");

describe.skipIf(!hasTmux)("kraal run in a terminal", () => {
  test("an interactive shell gets the terminal; Ctrl-C interrupts its job, not the shell; the exit status comes back", async () => {
    const term = terminal();
    term.type(`${BIN} run -- bash --norc --noprofile -i; echo "EXIT=$?"`, "Enter");
    term.type("echo in-bash-$((6*7)); tty && sleep 100", "Enter");
    await term.shows("in-bash-42");
    await term.shows("/dev/pts/");
    term.type("C-c");
    await term.shows("^C");
    term.type("exit 3", "Enter");
    await term.shows("EXIT=3");
  }, 30_000);

  test("a program reading /dev/tty gets what is typed", async () => {
    const term = terminal();
    term.type(`${BIN} run -- sh -c 'read x < /dev/tty; echo "got $x"'; echo "EXIT=$?"`, "Enter");
    await Bun.sleep(300); // the program must be waiting on the terminal before we type
    term.type("hello there", "Enter");
    await term.shows("got hello there");
    await term.shows("EXIT=0");
  }, 30_000);

  test("a full-screen program (less) draws, takes keys, and the terminal is restored afterwards", async () => {
    const file = join(t.dir, "pages.txt");
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n"));
    const term = terminal();
    term.type(`${BIN} run -- less ${file}; echo "EXIT=$?"`, "Enter");
    await term.shows("line 29");
    expect(term.screen()).not.toContain("line 31"); // one screenful: less sees a 30-row terminal
    term.type("q");
    await term.shows("EXIT=0");
    term.type("stty -a | grep -o -- '-*icanon'", "Enter");
    await term.shows(/^icanon$/m, "canonical mode restored");
  }, 30_000);

  test("--no-tty keeps plain stdio: the command has no controlling terminal", async () => {
    const term = terminal();
    const probe = `sh -c 'if (: </dev/tty) 2>/dev/null; then echo CTTY-yes; else echo CTTY-no; fi'`;
    term.type(`${BIN} run --no-tty -- ${probe}; ${BIN} run -- ${probe}`, "Enter");
    await term.shows(/CTTY-no\s+CTTY-yes/, "no terminal with --no-tty, then one without it");
  }, 30_000);

  test("window size changes reach the command", async () => {
    const term = terminal();
    term.type(`${BIN} run -- sh -c 'trap "stty size" WINCH; stty size; while :; do sleep 0.05; done'`, "Enter");
    await term.shows("30 100");
    term.resize(90, 20);
    await term.shows("20 90");
    term.type("C-c");
  }, 30_000);

  test("a background job (kraal run ... &) runs without taking the terminal: not stopped, stdin is /dev/null, the shell keeps its mode", async () => {
    const term = terminal(["bash", "--norc", "--noprofile", "-i"]);
    term.type(`${BIN} run -- sh -c 'sleep 0.3; echo bg-ran; read x; echo "read=$?"' & sleep 0.1; jobs; wait; echo "WAITED=$?"`, "Enter");
    await term.shows(/bg-ran\s+read=1/, "the job's output, and EOF on its stdin");
    await term.shows("WAITED=0");
    expect(term.screen()).not.toContain("Stopped");
    term.type("stty -a | grep -o -- '-*icanon'", "Enter");
    await term.shows(/^icanon$/m, "canonical mode untouched");
  }, 30_000);

  test("with a terminal, what the command leaves behind is still ended and reported", async () => {
    const term = terminal();
    const pidFile = join(t.dir, "leftover");
    // It ignores SIGHUP, as a daemon does: the terminal's hangup when the command's session ends
    // does not end it (it ends the others, racing kraal's check), so kraal must.
    term.type(`${BIN} run -- sh -c 'trap "" HUP; ${fixture("forever.sh")} ${pidFile} & sleep 0.2; echo parent-done'; echo "EXIT=$?"`, "Enter");
    const leftover = await readyPid(pidFile, 10_000);
    await term.shows("EXIT=0");
    expect(term.screen()).toContain("exited but left processes running");
    expect(isDeadOrZombie(leftover)).toBe(true);
  }, 30_000);

  test("with a terminal, a SIGKILLed kraal still takes the command's group with it", async () => {
    const term = terminal();
    const pidFile = join(t.dir, "agent");
    term.type(`${BIN} run --name held -- ${fixture("forever.sh")} ${pidFile}; echo "EXIT=$?"`, "Enter");
    const agent = await readyPid(pidFile, 10_000);
    const row = JSON.parse(kraal(["status", "held", "--json"], { env: t.env }).stdout);
    track(row.pgid);
    // The wrapper (the group's leader) is kraal's child: its parent is the kraal to kill.
    const stat = readFileSync(`/proc/${row.leaderPid}/stat`, "latin1");
    const kraalPid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    process.kill(kraalPid, "SIGKILL");
    await term.shows("EXIT=137");
    await waitUntil(() => isDeadOrZombie(agent), { timeoutMs: 5000, what: "the agent to die with kraal" });
    term.type("stty sane", "Enter"); // kraal could not restore the terminal: it was SIGKILLed
  }, 30_000);
});

describe.skipIf(!hasTmux)("kraal up in a terminal", () => {
  test("Ctrl-C says what is happening, a second Ctrl-C forces, and up exits 130", async () => {
    writeFileSync(join(t.dir, "kraal.toml"), `[agents.stubborn]\ncmd = ["${fixture("ignore-term.sh")}", "${join(t.dir, "stubborn")}"]\ngrace = "20s"\n[agents.polite]\ncmd = ["${fixture("forever.sh")}", "${join(t.dir, "polite")}"]\n`);
    const term = terminal();
    term.type(`${BIN} up; echo "EXIT=$?"`, "Enter");
    const pids = [await readyPid(join(t.dir, "stubborn"), 10_000), await readyPid(join(t.dir, "polite"), 10_000)];
    term.type("C-c");
    await term.shows("[kraal] Ctrl-C: stopping 2 agents (grace 20s); Ctrl-C again to force");
    await term.shows("polite   | [kraal] stopped (SIGTERM)");
    expect(isDeadOrZombie(pids[0]!)).toBe(false); // it ignores TERM, and the grace is long
    term.type("C-c");
    await term.shows("[kraal] second Ctrl-C: killing what is left now (SIGKILL)");
    await term.shows("EXIT=130");
    for (const pid of pids) expect(isDeadOrZombie(pid)).toBe(true);
  }, 30_000);
});
