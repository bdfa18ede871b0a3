import { describe, expect, test } from "bun:test";
import { BIN, kraal, useTempState } from "../helpers.ts";

const t = useTempState();
const run = (...args: string[]) => kraal(args, { env: t.env, cwd: t.dir });
/** Every error is one `kraal: error:` line, at most one hint line, and no stack trace or ANSI code. */
function expectOneError(r: { stderr: string }, message: string | RegExp, hint?: string) {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length).toBeLessThanOrEqual(2);
  expect(lines[0]).toMatch(typeof message === "string" ? new RegExp(`^kraal: error: ${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : message);
  if (hint) expect(lines[1]).toBe(`  ${hint}`);
  expect(r.stderr).not.toContain("\x1b[");
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("the command line", () => {
  test("kraal --help lists every command; kraal help CMD and CMD --help print the same plain help", () => {
    const root = run("--help");
    expect(root.code).toBe(0);
    const commands = ["spawn", "kill", "stop", "start", "restart", "ps", "status", "wait", "logs", "sweep", "run", "up", "down", "worktree", "mcp", "doctor"];
    for (const name of commands) {
      expect(root.stdout).toContain(`\n  ${name} `);
      const help = run("help", name);
      expect(help.code).toBe(0);
      expect(help.stdout).toStartWith(`Usage: kraal ${name}`);
    }
    // Where a command takes one, its usage line shows "-- CMD", in both lists.
    for (const name of ["spawn", "run"]) {
      expect(root.stdout).toMatch(new RegExp(`\\n  ${name} .*-- CMD \\[ARGS\\.\\.\\.\\]`));
      expect(run("help", name).stdout.split("\n")[0]).toEndWith("-- CMD [ARGS...]");
    }
    const viaHelp = run("help", "spawn");
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(run("spawn", "--help").stdout);
    expect(viaHelp.stdout).toStartWith("Usage: kraal spawn ID [--cwd DIR] [--env K=V]... [--worktree [DIR]] -- CMD [ARGS...]\n");
    expect(run("help", "run").stdout).toStartWith("Usage: kraal run [--name ID] [--timeout DURATION] [--no-tty] -- CMD [ARGS...]\n");
    for (const out of [root.stdout, viaHelp.stdout]) expect(out).not.toContain("\x1b[");
  }, 15_000);

  test("a misspelt command gets a did-you-mean", () => {
    const r = run("spwan", "x");
    expect(r.code).toBe(2);
    expectOneError(r, 'unknown command "spwan"', "did you mean: kraal spawn");
  }, 15_000);

  test("a command given without -- gets the corrected line as a hint", () => {
    const r = run("run", "sh", "-c", "true");
    expect(r.code).toBe(125);
    expectOneError(r, "run: the command to run goes after --", "did you mean: kraal run -- sh -c true");
    const s = run("spawn", "x", "sleep", "5");
    expect(s.code).toBe(2);
    expectOneError(s, "spawn: the command to run goes after --", "did you mean: kraal spawn x -- sleep 5");
    expect(run("ps").stdout).not.toContain("x ");
  }, 15_000);

  test("a shell line given as one word is explained: commands do not go through a shell", () => {
    const r = run("spawn", "x", "--", "sleep 5");
    expect(r.code).toBe(1);
    expectOneError(r, "command not found: sleep 5", `commands do not go through a shell: give the words separately (-- sleep 5), or use -- sh -c "sleep 5"`);
  }, 15_000);

  test("extra positional arguments are errors, not ignored", () => {
    expectOneError(run("ps", "extra"), 'ps: unexpected argument "extra"', "usage: kraal ps [-a] [--json]");
    const w = run("wait", "a", "b");
    expect(w.code).toBe(2);
    expectOneError(w, 'wait: unexpected argument "b"');
  }, 15_000);

  test("a flag without its value is one error line, not the full help", () => {
    for (const args of [["--dir"], ["ps", "--dir"], ["kill", "x", "--grace"]]) {
      const r = run(...args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expectOneError(r, /^kraal: error: --(dir|grace) needs a value$/);
    }
  }, 15_000);

  test("a missing argument is reported in the same style", () => {
    const r = run("wait"); // (logs without an ID is every agent's log)
    expect(r.code).toBe(2);
    expectOneError(r, "wait: missing argument ID", "usage: kraal wait ID [--timeout DURATION]");
    // Every usage hint is the command's synopsis, the first line of its help.
    const synopsis = (name: string) => run("help", name).stdout.split("\n")[0]!.replace(/^Usage: /, "usage: ");
    expectOneError(run("run"), "no command given", synopsis("run"));
    expectOneError(run("worktree", "ls", "x"), 'worktree: unknown action "ls"', synopsis("worktree"));
    expectOneError(run("worktree", "rm"), "worktree: missing argument ID", synopsis("worktree"));
  }, 15_000);

  test("no ANSI codes off a terminal, even without NO_COLOR; on a terminal, colour unless NO_COLOR is set", () => {
    const { NO_COLOR: _, ...colourable } = t.env;
    const piped = (...args: string[]) => kraal(args, { env: colourable, cwd: t.dir });
    for (const r of [piped("--help"), piped("help", "spawn"), piped("ps"), piped("spwan"), piped("kill", "nobody"), piped("status", "nobody")]) {
      expect(r.stdout + r.stderr).not.toContain("\x1b[");
    }
    /** stdout and stderr a terminal (script(1) gives the command a pty), both read back from it. */
    const inTty = (args: string, env: Record<string, string>) =>
      Bun.spawnSync(["script", "-qec", `${BIN} ${args}`, "/dev/null"], { env: { ...colourable, ...env }, cwd: t.dir, stdout: "pipe", timeout: 15_000 }).stdout.toString();
    expect(inTty("spwan", {})).toContain("\x1b[31merror: \x1b[0m");
    expect(inTty("spwan", { NO_COLOR: "1" })).toStartWith('kraal: error: unknown command "spwan"');
    for (const args of ["--help", "help ps"]) expect(inTty(args, {})).not.toContain("\x1b[");
  }, 20_000);
});
