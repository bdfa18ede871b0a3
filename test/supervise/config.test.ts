import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findCycle, loadConfig, parseProcfile, parseToml, withDependencies } from "../../src/supervise/config.ts";

const dir = mkdtempSync(join(tmpdir(), "kraal-config-"));
const toml = (text: string) => parseToml(text, join(dir, "kraal.toml"));
const err = (text: string) => {
  try {
    toml(text);
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
};

describe("kraal.toml", () => {
  test("agents with strings (sh -c) and arrays (argv), defaults, and overrides", () => {
    const agents = toml(`
[defaults]
restart = "on-failure"
max_restarts = 2
grace = "1s"
env = { A = "1", B = "2" }

[agents.web]
cmd = "python3 -m http.server 8080"
cwd = "site"

[agents.worker]
cmd = ["node", "worker.js", "--queue", "a b"]
restart = "always"
backoff = { initial = "100ms", max = "2s" }
env = { B = "override" }
`);
    expect(agents.map((a) => a.name)).toEqual(["web", "worker"]);
    expect(agents[0]).toMatchObject({ argv: ["sh", "-c", "python3 -m http.server 8080"], cwd: join(dir, "site"), graceMs: 1000, env: { A: "1", B: "2" } });
    expect(agents[0]!.policy).toEqual({ restart: "on-failure", maxRestarts: 2, backoff: { initialMs: 500, maxMs: 30000 } });
    expect(agents[1]).toMatchObject({ argv: ["node", "worker.js", "--queue", "a b"], cwd: dir, env: { A: "1", B: "override" } });
    expect(agents[1]!.policy).toEqual({ restart: "always", maxRestarts: 2, backoff: { initialMs: 100, maxMs: 2000 } });
  });

  test("errors name the file, the key and the line", () => {
    expect(err(`[agents.a]\ncmd = "x"\nrestrt = "always"\n`)).toBe('kraal.toml:3: agents.a.restrt: unknown key; did you mean restart? (expected one of: cmd, cwd, env, env_file, restart, max_restarts, backoff, grace, stop_signal, depends_on, ready, worktree, log_max)');
    expect(err(`[agents.a]\ncmd = "x"\nrestart = "sometimes"\n`)).toBe('kraal.toml:3: agents.a.restart: expected one of no, on-failure, always, got "sometimes"');
    expect(err(`[agents.a]\ncmd = "x"\nmax_restarts = "3"\n`)).toBe('kraal.toml:3: agents.a.max_restarts: expected a whole number >= 0, got "3"');
    expect(err(`[agents.a]\ncmd = 5\n`)).toBe("kraal.toml:2: agents.a.cmd: expected a string (run by sh -c) or a non-empty array of strings (argv)");
    expect(err(`[agents.a]\ncmd = "x"\ngrace = "soon"\n`)).toContain("kraal.toml:3: agents.a.grace:");
    expect(err(`[defaults]\ngrace = "x"\n[agents.a]\ncmd = "x"\n`)).toContain("kraal.toml:2: defaults.grace:");
    expect(err(`[agents.a]\nrestart = "no"\n`)).toBe("kraal.toml:1: agents.a: missing cmd");
    expect(err(`[agents.a]\ncmd = "x"\n\n[agents.a]\ncmd = "y"\n`)).toBe('kraal.toml:4: duplicate name "a"');
    expect(err(`[agent.a]\ncmd = "x"\n`)).toContain("kraal.toml:1: agent: unknown table");
    expect(err(`[agents.a]\ncmd = \n`)).toContain("invalid TOML");
    expect(err(`[agents.a]\ncmd = "x"\ndepends_on = ["b"]\n`)).toBe('kraal.toml:3: agents.a.depends_on: no agent "b" in this file');
    expect(err(`[agents.a]\ncmd = "x"\ndepends_on = ["a"]\n`)).toBe("kraal.toml:3: agents.a.depends_on: an agent cannot depend on itself");
    expect(err(`[agents.a]\ncmd = "x"\ndepends_on = ["b"]\n[agents.b]\ncmd = "y"\ndepends_on = ["a"]\n`)).toBe("kraal.toml:3: agents.a.depends_on: dependency cycle: a -> b -> a");
    expect(err(`[agents.a]\ncmd = "x"\nready = { port = 1, log = "x" }\n`)).toBe("kraal.toml:3: agents.a.ready: give exactly one of cmd, port, log");
    expect(err(`[agents.a]\ncmd = "x"\nready = { port = 70000 }\n`)).toBe("kraal.toml:3: agents.a.ready: port: expected 1-65535, got 70000");
    // Invalid TOML carries the line and column; a bad duration names the key, not a flag.
    expect(err(`[agents.a]\ncmd = "x"\nbad = = 3\n`)).toBe("kraal.toml:3:7: invalid TOML: Expected a value but found '='");
    expect(err(`[agents.a]\ncmd = [1,\n`)).toStartWith("kraal.toml:2:7: invalid TOML: ");
    expect(err(`[agents.a]\ncmd = "x"\nbackoff = "zz"\n`)).toBe('kraal.toml:3: agents.a.backoff: "zz" is not a duration');
    expect(err(`[agents.a]\ncmd = "x"\nbackoff = { initial = "q" }\n`)).toBe('kraal.toml:3: agents.a.backoff: initial: "q" is not a duration');
    expect(err(``)).toContain("no agents defined");
  });
});

describe("Procfile", () => {
  test("name: command lines, comments and blank lines", () => {
    const agents = parseProcfile("# services\nweb: bundle exec rails s -p $PORT\n\nworker:   node worker.js\n", join(dir, "Procfile"));
    expect(agents.map((a) => [a.name, a.argv])).toEqual([
      ["web", ["sh", "-c", "bundle exec rails s -p $PORT"]],
      ["worker", ["sh", "-c", "node worker.js"]],
    ]);
    expect(agents[0]!.policy.restart).toBe("no");
  });

  test("errors name the line", () => {
    const p = join(dir, "Procfile");
    expect(() => parseProcfile("web: a\nweb: b\n", p)).toThrow("Procfile:2: web: duplicate name (first on line 1)");
    expect(() => parseProcfile("web a\n", p)).toThrow("Procfile:1: expected 'name: command'");
    expect(() => parseProcfile("web:\n", p)).toThrow("Procfile:1: web: empty command");
    expect(() => parseProcfile("# nothing\n", p)).toThrow("no processes defined");
  });

  test("loadConfig picks the parser by file name", () => {
    writeFileSync(join(dir, "Procfile"), "a: true\n");
    expect(loadConfig(join(dir, "Procfile"))[0]!.name).toBe("a");
    // A *.toml file (any case) is never read as a Procfile, even when it looks like one.
    for (const name of ["procs.toml", "Procs.TOML"]) {
      writeFileSync(join(dir, name), "a: true\n");
      expect(() => loadConfig(join(dir, name))).toThrow("invalid TOML");
    }
  });
});

describe("dependencies and readiness", () => {
  test("ready as a command, a port or a log line, with a timeout; depends_on pulls in what a named agent needs", () => {
    const specs = parseToml(
      `[agents.db]\ncmd = "db"\nready = { port = 5432, timeout = "5s" }\n[agents.cache]\ncmd = "c"\nready = "redis-cli ping"\n[agents.log]\ncmd = "l"\nready = { log = "listening" }\n[agents.api]\ncmd = "api"\ndepends_on = ["db", "cache"]\n[agents.other]\ncmd = "o"\n`,
      join(dir, "kraal.toml"),
    );
    const by = Object.fromEntries(specs.map((s) => [s.name, s]));
    expect(by.db!.ready).toEqual({ check: { port: 5432, host: "127.0.0.1" }, timeoutMs: 5000 });
    expect(by.cache!.ready).toEqual({ check: { cmd: "redis-cli ping" }, timeoutMs: 60_000 });
    expect(by.log!.ready!.check).toEqual({ log: "listening" });
    expect(by.api!.dependsOn).toEqual(["db", "cache"]);
    expect(withDependencies(specs, ["api"]).map((s) => s.name)).toEqual(["db", "cache", "api"]);
  });

  test("findCycle finds the loop, not an innocent diamond", () => {
    expect(findCycle([{ name: "a", dependsOn: ["b", "c"] }, { name: "b", dependsOn: ["d"] }, { name: "c", dependsOn: ["d"] }, { name: "d", dependsOn: [] }])).toBeNull();
    expect(findCycle([{ name: "a", dependsOn: ["b"] }, { name: "b", dependsOn: ["c"] }, { name: "c", dependsOn: ["b"] }])).toEqual(["b", "c", "b"]);
  });
});
