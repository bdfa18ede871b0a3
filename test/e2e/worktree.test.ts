import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, fixture, kraal, kraalAsync, isDeadOrZombie, readyPid, track, useTempState, waitUntil } from "../helpers.ts";

const t = useTempState();
const TIMEOUT = 30_000;

/** Env for git and kraal: a fixed identity and no user or system config, so tests see only their own repo. */
const env = () => ({
  ...t.env,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
});

function git(cwd: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], { cwd, env: env(), stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** A repository at `dir` with one commit on main: `file` holding `text`. */
function repoAt(dir: string, file: string, text: string, message: string): string {
  mkdirSync(dir);
  git(dir, "init", "--quiet", "-b", "main");
  writeFileSync(join(dir, file), text);
  git(dir, "add", file);
  git(dir, "commit", "--quiet", "-m", message);
  return dir;
}

/** A repository with one commit on main, in the test's temp dir. */
function repo(): string {
  return repoAt(join(t.dir, "repo"), "README", "hello\n", "first");
}

const run = (cwd: string, ...args: string[]) => kraal(args, { env: env(), cwd });

function spawnWt(cwd: string, id: string, extra: string[] = [], argv = ["sleep", "60"]) {
  const r = run(cwd, "spawn", id, "--json", "--worktree", ...extra, "--", ...argv);
  if (r.code !== 0) throw new Error(`spawn failed (${r.code}): ${r.stderr}`);
  const row = JSON.parse(r.stdout);
  track(row.pgid);
  return row;
}

describe("spawn --worktree", () => {
  test("makes a worktree on a new branch, runs the agent in it, and ps shows both", () => {
    const dir = repo();
    const row = spawnWt(dir, "w1");
    const path = join(t.layout.root, "worktrees", "w1");
    expect(row).toMatchObject({ id: "w1", state: "running", cwd: path, worktree: path, branch: "kraal/w1" });
    expect(git(path, "rev-parse", "--abbrev-ref", "HEAD")).toBe("kraal/w1");
    expect(readFileSync(join(path, "README"), "utf8")).toBe("hello\n");
    expect(JSON.parse(readFileSync(join(t.layout.pids, "w1"), "utf8")).worktree).toEqual({ path, branch: "kraal/w1", repo: dir });
    const ps = run(dir, "ps");
    expect(ps.stdout.split("\n")[0]).toContain("BRANCH");
    expect(ps.stdout).toContain("kraal/w1");
    // A restart runs again in the same worktree, and the new handle records it.
    const r = run(dir, "restart", "w1", "--json");
    expect(r.code).toBe(0);
    track(JSON.parse(r.stdout)[0].pgid);
    expect(JSON.parse(run(dir, "status", "w1", "--json").stdout)).toMatchObject({ cwd: path, worktree: path, branch: "kraal/w1" });
  }, TIMEOUT);

  test("--worktree DIR, --branch and --from", () => {
    const dir = repo();
    const first = git(dir, "rev-parse", "HEAD");
    writeFileSync(join(dir, "README"), "two\n");
    git(dir, "commit", "--quiet", "-am", "second");
    const row = spawnWt(dir, "w2", [join(t.dir, "elsewhere"), "--branch", "topic", "--from", first]);
    expect(row).toMatchObject({ worktree: join(t.dir, "elsewhere"), branch: "topic" });
    expect(git(join(t.dir, "elsewhere"), "rev-parse", "HEAD")).toBe(first);
  }, TIMEOUT);

  test("errors, one clear line each: not a repository, dirty --from, existing branch, existing path", () => {
    const plain = join(t.dir, "plain");
    mkdirSync(plain);
    let r = run(plain, "spawn", "x", "--worktree", "--", "true");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--worktree: ${plain} is not in a git repository`);
    const dir = repo();
    git(dir, "branch", "kraal/x");
    r = run(dir, "spawn", "x", "--worktree", "--", "true");
    expect(r.stderr).toContain(`branch kraal/x already exists in ${dir}`);
    mkdirSync(join(t.dir, "taken"));
    r = run(dir, "spawn", "y", "--worktree", join(t.dir, "taken"), "--", "true");
    expect(r.stderr).toContain(`worktree path ${join(t.dir, "taken")} already exists`);
    r = run(dir, "spawn", "y", "--worktree", "--from", "nope", "--", "true");
    expect(r.stderr).toContain(`--from nope: no such commit in ${dir}`);
    writeFileSync(join(dir, "README"), "changed\n");
    r = run(dir, "spawn", "y", "--worktree", "--", "true");
    expect(r.stderr).toContain("--from HEAD: ");
    expect(r.stderr).toContain("has uncommitted changes");
    for (const line of [r.stderr]) expect(line.split("\n")[0]!.startsWith("kraal: error: ")).toBe(true);
    // Nothing was left behind by the failed attempts.
    expect(git(dir, "worktree", "list").split("\n")).toHaveLength(1);
    expect(run(dir, "ps", "--json").stdout.trim()).toBe("[]");
  }, TIMEOUT);

  test("a spawn that fails after the worktree was made removes it again", () => {
    const dir = repo();
    const r = run(dir, "spawn", "z", "--worktree", "--", "no-such-command-kraal");
    expect(r.code).toBe(1);
    expect(git(dir, "worktree", "list").split("\n")).toHaveLength(1);
    expect(git(dir, "branch", "--list", "kraal/z")).toBe("");
  }, TIMEOUT);

  test("concurrent spawns of different ids each get their own worktree", async () => {
    const dir = repo();
    const ids = ["c1", "c2", "c3", "c4"];
    const runs = await Promise.all(ids.map((id) => kraalAsync(["--dir", t.layout.root, "spawn", id, "--json", "--cwd", dir, "--worktree", "--", "sleep", "60"], { env: env() })));
    for (const r of runs) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      track(JSON.parse(r.stdout).pgid);
    }
    const branches = git(dir, "branch", "--format=%(refname:short)").split("\n").sort();
    expect(branches).toEqual(["kraal/c1", "kraal/c2", "kraal/c3", "kraal/c4", "main"]);
    expect(git(dir, "worktree", "list").split("\n")).toHaveLength(5);
  }, TIMEOUT);
});

describe("a state directory inside the repository", () => {
  test("is ignored by git when kraal makes it: git status stays clean and git add -A takes none of it", () => {
    const dir = repo();
    const state = join(dir, ".kraal");
    const r = kraal(["spawn", "in", "--json", "--worktree", "--", "sleep", "60"], { env: { ...env(), KRAAL_DIR: "" }, cwd: dir });
    expect(r.code).toBe(0);
    track(JSON.parse(r.stdout).pgid);
    expect(JSON.parse(r.stdout).worktree).toBe(join(state, "worktrees", "in"));
    expect(git(dir, "status", "--porcelain", "--untracked-files=all")).toBe("");
    git(dir, "add", "-A");
    expect(git(dir, "diff", "--cached", "--name-only")).toBe("");
  }, TIMEOUT);

  test("made before kraal ignored it: its agents' worktrees are still never taken in as embedded repositories", () => {
    const dir = repo();
    const state = join(dir, "old-state");
    mkdirSync(state, { mode: 0o700 });
    const r = kraal(["spawn", "old", "--json", "--worktree", "--", "true"], { env: { ...env(), KRAAL_DIR: state }, cwd: dir });
    expect(r.code).toBe(0);
    git(dir, "add", "-A");
    const added = git(dir, "diff", "--cached", "--name-only").split("\n");
    expect(added.some((f) => f.startsWith("old-state/logs/"))).toBe(true); // it is not kraal's to ignore
    expect(added.filter((f) => f.startsWith("old-state/worktrees/"))).toEqual([]);
  }, TIMEOUT);
});

describe("worktree rm", () => {
  test("stops the running agent, then removes a clean worktree; the branch is kept", async () => {
    const dir = repo();
    const row = spawnWt(dir, "r1");
    const r = run(dir, "worktree", "rm", "r1");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("r1 stopped");
    expect(r.stdout).toContain("removed; branch kraal/r1 kept");
    await waitUntil(() => isDeadOrZombie(row.pgid), { timeoutMs: 5000 });
    expect(existsSync(row.worktree)).toBe(false);
    expect(git(dir, "worktree", "list").split("\n")).toHaveLength(1);
    expect(git(dir, "branch", "--list", "kraal/r1")).toContain("kraal/r1");
  }, TIMEOUT);

  test("--delete-branch deletes a merged branch; the id can then have a new worktree", () => {
    const dir = repo();
    spawnWt(dir, "r2", [], ["true"]);
    const r = run(dir, "worktree", "rm", "r2", "--delete-branch");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("branch kraal/r2 deleted");
    expect(git(dir, "branch", "--list", "kraal/r2")).toBe("");
    spawnWt(dir, "r2");
  }, TIMEOUT);

  test("refuses with uncommitted changes, untracked files or unmerged commits, listing them", () => {
    const dir = repo();
    const a = spawnWt(dir, "dirty", [], ["true"]);
    writeFileSync(join(a.worktree, "README"), "edited\n");
    const b = spawnWt(dir, "untracked", [], ["true"]);
    writeFileSync(join(b.worktree, "notes.txt"), "mine\n");
    const c = spawnWt(dir, "ahead", [], ["true"]);
    writeFileSync(join(c.worktree, "new.txt"), "x\n");
    git(c.worktree, "add", "new.txt");
    git(c.worktree, "commit", "--quiet", "-m", "agent work");
    let r = run(dir, "worktree", "rm", "dirty");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("1 uncommitted (README)");
    r = run(dir, "worktree", "rm", "untracked");
    expect(r.stderr).toContain("1 untracked (notes.txt)");
    r = run(dir, "worktree", "rm", "ahead");
    expect(r.stderr).toMatch(/1 commit on no other branch or remote \([0-9a-f]+ agent work\)/);
    expect(r.stderr).toContain("kraal worktree rm ahead --force");
    for (const w of [a, b, c]) expect(existsSync(w.worktree)).toBe(true);
    // Once merged, the same worktree goes.
    git(dir, "merge", "--quiet", "--ff-only", "kraal/ahead");
    expect(run(dir, "worktree", "rm", "ahead", "--delete-branch").code).toBe(0);
    expect(git(dir, "branch", "--list", "kraal/ahead")).toBe("");
  }, TIMEOUT);

  test("--force saves uncommitted and untracked work as a commit on the branch, then removes", () => {
    const dir = repo();
    const w = spawnWt(dir, "f1");
    writeFileSync(join(w.worktree, "README"), "edited\n");
    writeFileSync(join(w.worktree, "notes.txt"), "mine\n");
    const r = run(dir, "worktree", "rm", "f1", "--force", "--delete-branch");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/uncommitted work saved as commit [0-9a-f]+ on kraal\/f1/);
    expect(r.stdout).toContain("branch kraal/f1 kept (1 commit is on no other branch or remote)");
    expect(existsSync(w.worktree)).toBe(false);
    expect(git(dir, "show", "kraal/f1:notes.txt")).toBe("mine");
    expect(git(dir, "show", "kraal/f1:README")).toBe("edited");
    expect(git(dir, "log", "-1", "--format=%s", "kraal/f1")).toBe("kraal: work left in the worktree of f1");
  }, TIMEOUT);

  test("--delete-branch never deletes a branch with commits on no other branch: the agent's committed work stays on it", () => {
    const dir = repo();
    const w = spawnWt(dir, "d1", [], ["true"]);
    writeFileSync(join(w.worktree, "work.txt"), "done\n");
    git(w.worktree, "add", "work.txt");
    git(w.worktree, "commit", "--quiet", "-m", "agent commit");
    const sha = git(dir, "rev-parse", "kraal/d1");
    // Without --force the worktree itself is refused (its branch holds the only copy) ...
    const refused = run(dir, "worktree", "rm", "d1", "--delete-branch");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/1 commit on no other branch or remote \([0-9a-f]+ agent commit\)/);
    expect(existsSync(w.worktree)).toBe(true);
    // ... and with --force the worktree goes, but the unmerged branch stays, commit and all.
    const r = run(dir, "worktree", "rm", "d1", "--force", "--delete-branch", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: "removed", branchDeleted: false, branchKept: "1 commit is on no other branch or remote" });
    expect(existsSync(w.worktree)).toBe(false);
    expect(git(dir, "rev-parse", "kraal/d1")).toBe(sha);
    expect(git(dir, "show", "kraal/d1:work.txt")).toBe("done");
    // The contrast: once main has it, the same flag deletes the branch.
    git(dir, "merge", "--quiet", "--ff-only", "kraal/d1");
    const e = spawnWt(dir, "d2", [], ["true"]);
    expect(run(dir, "worktree", "rm", "d2", "--delete-branch").stdout).toContain("branch kraal/d2 deleted");
    expect(existsSync(e.worktree)).toBe(false);
    expect(git(dir, "branch", "--list", "kraal/d1")).toContain("kraal/d1");
  }, TIMEOUT);

  test("--force on a detached HEAD keeps its commits on a branch of their own", () => {
    const dir = repo();
    const w = spawnWt(dir, "det", [], ["true"]);
    git(w.worktree, "checkout", "--quiet", "--detach");
    writeFileSync(join(w.worktree, "loose.txt"), "x\n");
    git(w.worktree, "add", "loose.txt");
    git(w.worktree, "commit", "--quiet", "-m", "detached work");
    const sha = git(w.worktree, "rev-parse", "--short", "HEAD");
    const r = run(dir, "worktree", "rm", "det", "--force");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`commits of its detached HEAD kept on branch kraal/det-saved-${sha}`);
    expect(git(dir, "log", "-1", "--format=%s", `kraal/det-saved-${sha}`)).toBe("detached work");
  }, TIMEOUT);

  test("a git repository inside the worktree is refused even with --force: no commit can hold its files and commits", () => {
    const dir = repo();
    const w = spawnWt(dir, "nest", [], ["true"]);
    const sub = repoAt(join(w.worktree, "sub"), "precious.txt", "committed in sub\n", "sub work");
    writeFileSync(join(sub, "unsaved.txt"), "not even committed\n");
    for (const flags of [[], ["--force"]]) {
      const r = run(dir, "worktree", "rm", "nest", ...flags);
      expect(r.code).toBe(1);
      const [line, hint] = r.stderr.split("\n");
      expect(line).toContain("1 untracked (sub/)");
      expect(hint).toBe(`  1 other git repository (sub/) cannot be saved as a commit: move it out of ${w.worktree}, then run again`);
      expect(readFileSync(join(sub, "unsaved.txt"), "utf8")).toBe("not even committed\n");
    }
    // The contrast: moved out, the rest is saved and the worktree removed.
    Bun.spawnSync(["mv", sub, join(t.dir, "rescued")]);
    writeFileSync(join(w.worktree, "notes.txt"), "mine\n");
    expect(run(dir, "worktree", "rm", "nest", "--force").code).toBe(0);
    expect(existsSync(w.worktree)).toBe(false);
    expect(git(dir, "show", "kraal/nest:notes.txt")).toBe("mine");
  }, TIMEOUT);

  test("kill --rm-worktree stops the agent and removes its clean worktree", () => {
    const dir = repo();
    const w = spawnWt(dir, "k1");
    const r = run(dir, "kill", "k1", "--rm-worktree");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("k1 stopped");
    expect(r.stdout).toContain("worktree");
    expect(existsSync(w.worktree)).toBe(false);
  }, TIMEOUT);

  test("an agent without a worktree, and an unknown id, are errors", () => {
    const dir = repo();
    const r0 = run(dir, "spawn", "plain", "--json", "--", "sleep", "60");
    track(JSON.parse(r0.stdout).pgid);
    let r = run(dir, "worktree", "rm", "plain");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('agent "plain" has no worktree made by kraal');
    r = run(dir, "worktree", "rm", "nobody");
    expect(r.stderr).toContain('no agent named "nobody"');
    r = run(dir, "worktree", "ls", "x");
    expect(r.code).toBe(2);
  }, TIMEOUT);
});

describe("kraal.toml worktree = true", () => {
  test("up runs the agent in a worktree of its own, made once and kept across runs", () => {
    const dir = repo();
    writeFileSync(join(dir, "kraal.toml"), '[agents.builder]\ncmd = "pwd"\nworktree = true\n');
    git(dir, "add", "kraal.toml");
    git(dir, "commit", "--quiet", "-m", "config");
    const path = join(t.layout.root, "worktrees", "builder");
    for (let round = 0; round < 2; round++) {
      const r = run(dir, "up");
      expect(r.stderr).not.toContain("could not start");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(path);
    }
    expect(git(path, "rev-parse", "--abbrev-ref", "HEAD")).toBe("kraal/builder");
    expect(run(dir, "worktree", "rm", "builder", "--delete-branch").code).toBe(0);
    expect(existsSync(path)).toBe(false);
  }, TIMEOUT);

  test("after worktree rm kept its branch, start makes the worktree again on it, work included; a start that cannot be made says why", async () => {
    const dir = repo();
    const pidFile = join(t.dir, "agent-pid");
    writeFileSync(join(dir, "kraal.toml"), `[agents.a]\ncmd = ["${fixture("forever.sh")}", "${pidFile}"]\nworktree = true\n`);
    git(dir, "add", "kraal.toml");
    git(dir, "commit", "--quiet", "-m", "config");
    const up = Bun.spawn([BIN, "up"], { env: env(), cwd: dir, stdout: "pipe", stderr: "pipe", detached: true });
    track(up.pid);
    const output = new Response(up.stdout).text();
    try {
      await readyPid(pidFile, 10_000);
      const path = join(t.layout.root, "worktrees", "a");
      writeFileSync(join(path, "work.txt"), "the agent's\n");
      git(path, "add", "work.txt");
      git(path, "commit", "--quiet", "-m", "agent work");
      expect(run(dir, "worktree", "rm", "a", "--force").stdout).toContain("branch kraal/a kept");
      expect(existsSync(path)).toBe(false);
      rmSync(pidFile);
      const s = run(dir, "start", "a");
      expect(s.stderr).toBe("");
      expect(s.stdout).toMatch(/^a started, pgid \d+\n$/);
      await readyPid(pidFile, 10_000);
      expect(readFileSync(join(path, "work.txt"), "utf8")).toBe("the agent's\n");
      expect(git(path, "rev-parse", "--abbrev-ref", "HEAD")).toBe("kraal/a");
      // Its branch checked out elsewhere: git refuses, and start says so instead of "no answer".
      expect(run(dir, "worktree", "rm", "a", "--force").code).toBe(0);
      git(dir, "worktree", "add", "--quiet", join(t.dir, "elsewhere"), "kraal/a");
      const failed = run(dir, "start", "a");
      expect(failed.code).toBe(1);
      expect(failed.stderr).toStartWith("kraal: error: a could not start: git worktree add failed: ");
      expect(await up.exited).toBe(1); // its only agent failed
      expect(await output).toContain(`a | [kraal] worktree ${path} made again on its kept branch kraal/a\n`);
    } finally {
      up.kill("SIGKILL");
    }
  }, TIMEOUT);

  test("a worktree value that is neither a boolean nor a directory is a config error", () => {
    const dir = repo();
    writeFileSync(join(dir, "kraal.toml"), '[agents.a]\ncmd = "true"\nworktree = 3\n');
    const r = run(dir, "up");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("kraal.toml:3: agents.a.worktree: expected true, false or (for one agent) a directory, got 3");
  }, TIMEOUT);
});
