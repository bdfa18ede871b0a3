import { lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { KraalError } from "../base/errors.ts";
import { writeFileAtomic } from "../handle/handle.ts";
import { ignoredByGit, type Layout } from "../handle/state.ts";
import { git, gitComplaint, type GitResult } from "../sys/git.ts";
import { readTextSafe } from "../sys/safe-fs.ts";

/** A git worktree kraal made for an agent: recorded in its handle, its spawn spec, and worktree-records/. */
export interface Worktree {
  /** The worktree's directory (the agent's cwd). */
  path: string;
  /** The branch it was created on. */
  branch: string;
  /** The repository's main working tree it belongs to. */
  repo: string;
}

/** What `spawn --worktree` asks for. */
export interface WorktreeRequest {
  /** Where to create it (default <state>/worktrees/<encoded-id>). */
  dir?: string;
  /** The new branch (default kraal/<id>). */
  branch?: string;
  /** What it starts from (default HEAD). */
  from?: string;
  /** A directory inside the repository (the spawn's --cwd). */
  cwd: string;
}

export const worktreeDir = (l: Layout, name: string) => join(l.root, "worktrees", name);
const recordDir = (l: Layout) => join(l.root, "worktree-records");

/** `kraal/<id>`, with the characters a branch name cannot hold replaced by `-`. */
export function defaultBranch(id: string): string {
  const safe = id
    .replace(/[^A-Za-z0-9._/-]/g, "-")
    .replace(/\.\.+/g, "-")
    .replace(/\/\/+/g, "/")
    .split("/")
    .map((part) => part.replace(/^\.+/, "").replace(/(\.lock|\.)+$/, ""))
    .filter((part) => part !== "")
    .join("/");
  return `kraal/${safe || "agent"}`;
}

function fail(code: string, message: string, hint?: string, facts: Record<string, unknown> = {}): never {
  throw new KraalError(code, message, { hint, facts });
}

function ok(r: GitResult, what: string): string {
  if (r.code !== 0) fail("E_GIT", `${what} failed: ${gitComplaint(r)}`);
  return r.stdout.trim();
}

/** The record kept until `kraal worktree rm`, so a worktree outlives its agent's handle. */
export function readWorktreeRecord(l: Layout, name: string): Worktree | null {
  try {
    const o = JSON.parse(readTextSafe(join(recordDir(l), name), { maxBytes: 64 * 1024 }) ?? "null") as Worktree;
    return o && typeof o.path === "string" && typeof o.branch === "string" && typeof o.repo === "string" ? { path: o.path, branch: o.branch, repo: o.repo } : null;
  } catch {
    return null;
  }
}

function writeRecord(l: Layout, name: string, w: Worktree): void {
  mkdirSync(recordDir(l), { recursive: true, mode: 0o700 });
  writeFileAtomic(recordDir(l), name, `${JSON.stringify(w)}\n`);
}

function dropRecord(l: Layout, name: string): void {
  try {
    unlinkSync(join(recordDir(l), name));
  } catch {}
}

/**
 * Creates a worktree for agent `id` on a new branch, after checking, each with one clear line:
 * that `cwd` is in a git repository, that REF names a commit, that REF is not a checkout with
 * uncommitted changes (the worktree would silently lack them), that the branch does not exist,
 * and that the path does not exist (an old worktree is never reused or overwritten).
 * With `resumeBranch`, an existing branch is not an error: the worktree is made on it, where
 * its work left off (`resumed` is then set), as a `kraal up` agent's branch that `worktree rm`
 * kept; git refuses one checked out elsewhere.
 */
export function createWorktree(l: Layout, id: string, name: string, req: WorktreeRequest, opts: { resumeBranch?: boolean } = {}): Worktree & { resumed?: true } {
  let isDir = false;
  try {
    isDir = statSync(req.cwd).isDirectory();
  } catch {}
  if (!isDir) fail("E_BAD_CWD", `working directory ${req.cwd} does not exist or is not a directory`, undefined, { cwd: req.cwd });
  const top = git(["rev-parse", "--show-toplevel"], req.cwd);
  if (top.code !== 0) {
    fail("E_NOT_GIT", `--worktree: ${req.cwd} is not in a git repository`, "run it in a repository, give one with --cwd DIR, or create one with: git init", { cwd: req.cwd });
  }
  const repo = top.stdout.trim();
  const branch = req.branch ?? defaultBranch(id);
  const branchExists = () => git(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], repo).code === 0;
  if (opts.resumeBranch && branchExists()) {
    const path = newWorktreePath(l, id, name, req);
    git(["worktree", "prune"], repo); // a worktree of it whose directory was deleted by hand holds it
    ok(git(["worktree", "add", "--quiet", path, branch], repo), "git worktree add");
    const w: Worktree = { path, branch, repo };
    writeRecord(l, name, w);
    return { ...w, resumed: true };
  }
  const from = req.from ?? "HEAD";
  const commit = git(["rev-parse", "--verify", "--quiet", `${from}^{commit}`], repo);
  if (commit.code !== 0) {
    fail("E_BAD_REF", `--from ${from}: no such commit in ${repo}`, from === "HEAD" ? "the repository has no commits yet: commit something first" : "give a branch, tag or commit: --from REF", { repo, from });
  }
  const sha = commit.stdout.trim();
  // REF is what this checkout has out: its uncommitted changes would not be in the worktree.
  if (git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo).stdout.trim() === sha) {
    const dirty = git(["status", "--porcelain", "--untracked-files=no"], repo);
    if (dirty.code === 0 && dirty.stdout.trim() !== "") {
      fail("E_DIRTY_FROM", `--from ${from}: ${repo} has uncommitted changes that the new worktree would not get`, "commit or stash them first (git stash), then spawn again", { repo, from });
    }
  }
  if (git(["check-ref-format", "--branch", branch], repo).code !== 0) {
    fail("E_BAD_BRANCH", `--branch ${JSON.stringify(branch)} is not a valid branch name`, "give another with: --branch NAME", { branch });
  }
  if (branchExists()) {
    fail("E_BRANCH_EXISTS", `branch ${branch} already exists in ${repo}`, `pick another with --branch NAME, or remove the old worktree: kraal worktree rm ${id}`, { repo, branch });
  }
  const path = newWorktreePath(l, id, name, req);
  ok(git(["worktree", "add", "--quiet", "-b", branch, path, sha], repo), "git worktree add");
  const w: Worktree = { path, branch, repo };
  writeRecord(l, name, w);
  return w;
}

/** Where a new worktree goes: a path that must not exist yet, whose parent is made (and, kraal's own worktrees/, ignored by git). */
function newWorktreePath(l: Layout, id: string, name: string, req: WorktreeRequest): string {
  const path = resolve(req.cwd, req.dir ?? worktreeDir(l, name));
  if (lstatSync(path, { throwIfNoEntry: false })) {
    const known = readWorktreeRecord(l, name);
    fail("E_PATH_EXISTS", `worktree path ${path} already exists`, known?.path === path ? `remove the old one first: kraal worktree rm ${id}` : "give another with: --worktree DIR", { path });
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // In a state directory made before kraal wrote its .gitignore, the worktrees still must not
  // show up in the repository as embedded repositories.
  if (req.dir === undefined) ignoredByGit(dirname(path));
  return path;
}

/** Removes a worktree that was just created for a spawn that then failed: nothing in it is anyone's work. */
export function discardFreshWorktree(l: Layout, name: string, w: Worktree): void {
  git(["worktree", "remove", "--force", w.path], w.repo);
  git(["branch", "-D", w.branch], w.repo);
  dropRecord(l, name);
}

/** What removing a worktree would lose. */
export interface Loss {
  /** Tracked files with changes not committed (staged or not). */
  uncommitted: string[];
  untracked: string[];
  /** `<short sha> <subject>` of commits reachable from the worktree's HEAD or branch and from no other branch or remote. */
  commits: string[];
}

/** Commits of `refs` that no branch (other than `except`) and no remote-tracking branch holds. */
function uniqueCommits(cwd: string, refs: string[], except?: string): string[] {
  if (refs.length === 0) return [];
  const r = git(["log", "--format=%h %s", ...refs, "--not", ...(except ? [`--exclude=${except}`] : []), "--branches", "--remotes", "--"], cwd);
  return ok(r, "git log").split("\n").filter((s) => s !== "");
}

const hasRef = (cwd: string, ref: string) => git(["rev-parse", "--verify", "--quiet", ref], cwd).code === 0;

/** Reads, with git, what is in the worktree that exists nowhere else. */
export function assessWorktree(w: Worktree): Loss {
  const st = git(["status", "--porcelain=v1", "-z", "--untracked-files=all"], w.path);
  ok(st, "git status");
  const fields = st.stdout.split("\0"); // untrimmed: " M file" starts with a space
  const uncommitted: string[] = [];
  const untracked: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.length < 4) continue;
    const [xy, file] = [f.slice(0, 2), f.slice(3)];
    if (xy === "??") untracked.push(file);
    else uncommitted.push(file);
    if (xy[0] === "R" || xy[0] === "C") i++; // the next field is the rename's source
  }
  const refs = ["HEAD", `refs/heads/${w.branch}`].filter((r) => hasRef(w.path, r));
  return { uncommitted, untracked, commits: uniqueCommits(w.path, refs, w.branch) };
}

/** What `worktree rm` did. */
export interface WorktreeRemoval {
  id: string;
  path: string;
  branch: string;
  /** "removed", or "already gone" when the directory had been deleted by hand. */
  result: "removed" | "already gone";
  /** The commit that saved uncommitted work (`--force`). */
  savedCommit?: string;
  /** A branch made to hold commits of a detached HEAD (`--force`). */
  savedBranch?: string;
  branchDeleted: boolean;
  /** Why the branch was kept, when --delete-branch was given and it was not deleted. */
  branchKept?: string;
}

function listed(what: string, items: string[]): string {
  const shown = items.slice(0, 5).join(", ");
  return `${items.length} ${what} (${shown}${items.length > 5 ? `, and ${items.length - 5} more` : ""})`;
}

/** Saves everything in the worktree as a commit on its current HEAD; the identity falls back to kraal's. */
function saveWork(w: Worktree, id: string): string {
  ok(git(["add", "--all", "--", "."], w.path), "git add");
  const who = git(["var", "GIT_COMMITTER_IDENT"], w.path).code === 0 ? [] : ["-c", "user.name=kraal", "-c", "user.email=kraal@localhost"];
  ok(git([...who, "commit", "--quiet", "--no-verify", "-m", `kraal: work left in the worktree of ${id}`], w.path), "git commit");
  return ok(git(["rev-parse", "--short", "HEAD"], w.path), "git rev-parse");
}

/**
 * Removes agent `id`'s worktree (its agent must already be stopped) only when nothing would be
 * lost; otherwise refuses with E_WOULD_LOSE, listing the files and commits. With `force`, first
 * saves uncommitted and untracked work as a commit (and a detached HEAD's commits on a branch
 * of their own), so nothing is deleted silently; a repository inside the worktree, which no
 * commit can hold, is refused even then. The branch is kept unless `deleteBranch` and
 * every commit on it is on another branch or remote.
 */
export function removeWorktree(l: Layout, id: string, name: string, w: Worktree, opts: { force?: boolean; deleteBranch?: boolean } = {}): WorktreeRemoval {
  const out: WorktreeRemoval = { id, path: w.path, branch: w.branch, result: "removed", branchDeleted: false };
  if (!lstatSync(w.path, { throwIfNoEntry: false })) {
    git(["worktree", "prune"], w.repo);
    out.result = "already gone";
  } else {
    const loss = assessWorktree(w);
    // Another repository inside the worktree (an agent's `git clone` or `git init`): git lists it
    // as one untracked directory, and `git add` would record only its HEAD's id, so its files and
    // commits cannot be saved as a commit here. Not even --force removes it.
    const nested = loss.untracked.filter((f) => f.endsWith("/"));
    if (nested.length || (!opts.force && (loss.uncommitted.length || loss.untracked.length || loss.commits.length))) {
      const parts = [
        ...(loss.uncommitted.length ? [listed("uncommitted", loss.uncommitted)] : []),
        ...(loss.untracked.length ? [listed("untracked", loss.untracked)] : []),
        ...(loss.commits.length ? [listed(`commit${loss.commits.length === 1 ? "" : "s"} on no other branch or remote`, loss.commits)] : []),
      ];
      const hint = nested.length
        ? `${listed(`other git repositor${nested.length === 1 ? "y" : "ies"}`, nested)} cannot be saved as a commit: move ${nested.length === 1 ? "it" : "them"} out of ${w.path}, then run again`
        : `merge or push the work, or save it as a commit on ${w.branch} and remove: kraal worktree rm ${id} --force`;
      throw new KraalError("E_WOULD_LOSE", `refusing to remove the worktree of ${JSON.stringify(id)} (${w.path}): it has ${parts.join("; ")}`, {
        hint,
        facts: { id, path: w.path, branch: w.branch, ...loss, nested },
      });
    }
    if (loss.uncommitted.length || loss.untracked.length) out.savedCommit = saveWork(w, id);
    if (git(["symbolic-ref", "--quiet", "HEAD"], w.path).code !== 0 && uniqueCommits(w.path, ["HEAD"]).length) {
      const head = ok(git(["rev-parse", "--short", "HEAD"], w.path), "git rev-parse");
      out.savedBranch = `${w.branch}-saved-${head}`;
      ok(git(["branch", out.savedBranch, "HEAD"], w.path), "git branch");
    }
    ok(git(["worktree", "remove", "--force", w.path], w.repo), "git worktree remove");
  }
  if (opts.deleteBranch && hasRef(w.repo, `refs/heads/${w.branch}`)) {
    const unmerged = uniqueCommits(w.repo, [`refs/heads/${w.branch}`], w.branch);
    if (unmerged.length) out.branchKept = `${unmerged.length} commit${unmerged.length === 1 ? " is" : "s are"} on no other branch or remote`;
    else {
      ok(git(["branch", "-D", w.branch], w.repo), "git branch -D");
      out.branchDeleted = true;
    }
  }
  dropRecord(l, name);
  return out;
}
