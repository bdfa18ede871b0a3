import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { kraal, useTempState } from "../helpers.ts";

// What `kraal up` says about a kraal.toml it cannot use: where (file:line[:col]), what, and
// the key it meant when a key is misspelt. Nothing is started.

const t = useTempState();

function upWith(text: string, file = "kraal.toml") {
  writeFileSync(join(t.dir, file), text);
  return kraal(file === "kraal.toml" ? ["up"] : ["up", "-f", file], { env: t.env, cwd: t.dir });
}

/** One error line (and an optional hint), exit 2, nothing on stdout. */
function expectError(r: ReturnType<typeof upWith>, line: string) {
  expect(r).toMatchObject({ code: 2, stdout: "" });
  expect(r.stderr.split("\n")[0]).toBe(`kraal: error: ${line}`);
}

describe("kraal.toml errors", () => {
  test("a TOML syntax error gives file:line:col and the parser's message, naming the TOML file, never a Procfile", () => {
    expectError(upWith('[agents.a]\ncmd = ["sleep", "1"\nrestart = "always"\n'), "kraal.toml:3:1: invalid TOML: Expected ',' or ']' in an array but found 'r'");
    const r = upWith('[agents.a]\ncmd = "true"\n  oops: 1\n', "agents.toml");
    expectError(r, "agents.toml:3:7: invalid TOML: Expected '=' after a key but found ':'");
    expect(r.stderr).not.toContain("Procfile");
  }, 15_000);

  test("a misspelt key is named, with the key it most likely meant", () => {
    expectError(
      upWith('[agents.a]\ncmd = "true"\nbakoff = "1s"\n'),
      "kraal.toml:3: agents.a.bakoff: unknown key; did you mean backoff? (expected one of: cmd, cwd, env, env_file, restart, max_restarts, backoff, grace, stop_signal, depends_on, ready, worktree, log_max)",
    );
    expect(upWith('[agents.a]\ncmd = "true"\nmax_restart = 3\n').stderr).toStartWith("kraal: error: kraal.toml:3: agents.a.max_restart: unknown key; did you mean max_restarts? (expected");
    expectError(upWith('[agents.a]\ncmd = "true"\nbackoff = { initial = "1s", maxx = "9s" }\n'), "kraal.toml:3: agents.a.backoff: unknown key maxx; did you mean max? (expected initial, max)");
    expectError(upWith('[agent.a]\ncmd = "true"\n'), "kraal.toml:1: agent: unknown table; did you mean agents? (expected [defaults] and [agents.NAME])");
    // Nothing close: no guess, only the list.
    expectError(
      upWith('[agents.a]\ncmd = "true"\ncolour = "red"\n'),
      "kraal.toml:3: agents.a.colour: unknown key (expected one of: cmd, cwd, env, env_file, restart, max_restarts, backoff, grace, stop_signal, depends_on, ready, worktree, log_max)",
    );
  }, 15_000);

  test("a bad back-off value names the config key, not a command-line flag", () => {
    const r = upWith('[agents.a]\ncmd = "true"\nbackoff = "fast"\n');
    expectError(r, 'kraal.toml:3: agents.a.backoff: "fast" is not a duration');
    expect(r.stderr).not.toContain("--");
    expectError(upWith('[agents.a]\ncmd = "true"\nbackoff = { initial = "5s", max = "1s" }\n'), "kraal.toml:3: agents.a.backoff: max is shorter than initial");
  }, 15_000);
});
