import { join } from "node:path";
import { KraalError } from "../base/errors.ts";
import { encodeId } from "../handle/id.ts";
import { inspect } from "../handle/inspect.ts";
import { acquireLock } from "../handle/lock.ts";
import { ensureLayout, type Layout } from "../handle/state.ts";
import { isLive } from "../handle/verdict.ts";
import { type SpawnRequest, type Started, spawnAgent } from "./spawner.ts";
import { lstatSync } from "node:fs";
import { createWorktree, discardFreshWorktree, readWorktreeRecord, type Worktree, type WorktreeRequest } from "./worktree.ts";

/** Worktree creation is serialized per state directory: git's ref and config updates do not like company. */
const GIT_LOCK_MS = 60_000;

/**
 * Spawns an agent in a new git worktree of its own (see createWorktree for what is checked).
 * The agent runs with the worktree as its cwd, and the handle and spawn spec record it. If the
 * spawn fails after the worktree was made, the fresh worktree and its branch are removed again:
 * nothing has worked in them yet.
 */
export async function spawnInWorktree(l: Layout, req: Omit<SpawnRequest, "cwd" | "worktree">, wt: WorktreeRequest): Promise<Started> {
  const name = encodeId(req.id);
  ensureLayout(l);
  const live = inspect(l, name).verdict;
  if (isLive(live)) {
    throw new KraalError("E_RUNNING", `agent ${JSON.stringify(req.id)} is already ${live.state}`, { hint: `stop it first with: kraal kill ${req.id}`, facts: { id: req.id } });
  }
  const lock = await acquireLock(join(l.root, "worktrees.lock"), GIT_LOCK_MS);
  let w;
  try {
    w = createWorktree(l, req.id, name, wt);
  } finally {
    lock.release();
  }
  try {
    return await spawnAgent(l, { ...req, cwd: w.path, worktree: w });
  } catch (e) {
    discardFreshWorktree(l, name, w);
    throw e;
  }
}

/**
 * The worktree of a `kraal up` agent with `worktree = true`: the one kraal made for it before
 * (its record names a directory that still exists), else a new one, on its branch where that
 * still exists (`worktree rm` keeps it; `resumed` is then set), else on a new branch. Unlike
 * `spawn --worktree`, a configured agent keeps its worktree across runs until `kraal worktree rm`,
 * and starts again after it.
 */
export async function ensureWorktree(l: Layout, id: string, req: WorktreeRequest): Promise<Worktree & { resumed?: true }> {
  const name = encodeId(id);
  ensureLayout(l);
  const lock = await acquireLock(join(l.root, "worktrees.lock"), GIT_LOCK_MS);
  try {
    const known = readWorktreeRecord(l, name);
    if (known && (req.dir === undefined || known.path === req.dir) && lstatSync(known.path, { throwIfNoEntry: false })?.isDirectory()) return known;
    return createWorktree(l, id, name, req, { resumeBranch: true });
  } finally {
    lock.release();
  }
}
