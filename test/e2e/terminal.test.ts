import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, useTempState, waitUntil } from "../helpers.ts";

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

function terminal() {
  const socket = `kraal-test-${process.pid}-${serial++}`;
  servers.push(socket);
  const tmux = (...args: string[]) => Bun.spawnSync(["tmux", "-L", socket, ...args], { stdout: "pipe", stderr: "pipe" });
  const r = tmux("new-session", "-d", "-x", "100", "-y", "30", "env", `KRAAL_DIR=${t.env.KRAAL_DIR}`, "PS1=$ ", "sh");
  if (r.exitCode !== 0) throw new Error(`tmux: ${r.stderr}`);
  const screen = () => tmux("capture-pane", "-p").stdout.toString();
  return {
    type: (...keys: string[]) => tmux("send-keys", ...keys),
    screen,
    /** Waits until the screen shows `text`. */
    shows: (text: string | RegExp, what = String(text)) =>
      waitUntil(() => (typeof text === "string" ? screen().includes(text) : text.test(screen())), { timeoutMs: 10_000, intervalMs: 20, what: `the screen to show ${what}` }),
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
});
