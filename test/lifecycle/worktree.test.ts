import { expect, test } from "bun:test";
import { defaultBranch } from "../../src/lifecycle/worktree.ts";
import { bindOptionalValues } from "../../src/cli/main.ts";
import spawn from "../../src/cli/commands/spawn.ts";

test("default branches are kraal/<id>, made valid for git", () => {
  expect(defaultBranch("writer")).toBe("kraal/writer");
  expect(defaultBranch("team/alpha 1")).toBe("kraal/team/alpha-1");
  expect(defaultBranch("a..b")).toBe("kraal/a-b");
  expect(defaultBranch(".x.lock")).toBe("kraal/x");
  expect(defaultBranch("~^:?*[\\")).toBe("kraal/-------");
  const r = Bun.spawnSync(["git", "check-ref-format", "--branch", defaultBranch("~^:?*[\\")]);
  expect(r.exitCode).toBe(0);
}, 10_000);

test("--worktree takes the next word only when the id is given without it", () => {
  expect(bindOptionalValues(spawn, ["a", "--worktree"])).toEqual(["a", "--worktree="]);
  expect(bindOptionalValues(spawn, ["--worktree", "a"])).toEqual(["--worktree=", "a"]);
  expect(bindOptionalValues(spawn, ["a", "--worktree", "../wt"])).toEqual(["a", "--worktree=../wt"]);
  expect(bindOptionalValues(spawn, ["--worktree", "../wt", "a"])).toEqual(["--worktree=../wt", "a"]);
  expect(bindOptionalValues(spawn, ["a", "--worktree", "--branch", "b"])).toEqual(["a", "--worktree=", "--branch", "b"]);
  expect(bindOptionalValues(spawn, ["--cwd", "d", "a", "--worktree"])).toEqual(["--cwd", "d", "a", "--worktree="]);
  expect(bindOptionalValues(spawn, ["a", "--worktree=x"])).toEqual(["a", "--worktree=x"]);
}, 10_000);
