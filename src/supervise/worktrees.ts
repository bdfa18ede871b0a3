import { KraalError, UnknownAgentError } from "../base/errors.ts";
import { encodeId } from "../handle/id.ts";
import { inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { isLive } from "../handle/verdict.ts";
import { hasRun } from "../lifecycle/history.ts";
import type { StopOptions, StopReport } from "../lifecycle/stop.ts";
import { readWorktreeRecord, removeWorktree, type WorktreeRemoval } from "../lifecycle/worktree.ts";
import { stopAgents } from "./manage.ts";

/** What `worktree rm` did: the removal, and how the agent was stopped if it ran. */
export interface AgentWorktreeRemoval extends WorktreeRemoval {
  stopped?: StopReport["result"];
}

/**
 * `kraal worktree rm ID`: stops the agent if it runs (by its handle, or through `kraal up`),
 * then removes the worktree kraal made for it only if nothing would be lost (see
 * removeWorktree). The worktree is found from kraal's own record, never by looking for
 * processes or directories.
 */
export async function removeAgentWorktree(l: Layout, id: string, opts: StopOptions & { force?: boolean; deleteBranch?: boolean }): Promise<AgentWorktreeRemoval> {
  const name = encodeId(id);
  const e = inspect(l, name);
  const w = readWorktreeRecord(l, name) ?? e.verdict.handle?.worktree ?? null;
  if (!w) {
    if (e.read.kind === "missing" && !hasRun(l.history, id)) throw new UnknownAgentError(id);
    throw new KraalError("E_NO_WORKTREE", `agent ${JSON.stringify(id)} has no worktree made by kraal`, { hint: `give it one with: kraal spawn ${id} --worktree -- CMD`, facts: { id } });
  }
  let stopped: StopReport["result"] | undefined;
  if (isLive(e.verdict)) {
    const [s] = await stopAgents(l, [id], { graceMs: opts.graceMs, signal: opts.signal });
    if (s!.status === "rejected") throw s!.reason;
    stopped = s!.value.result;
  }
  return { ...removeWorktree(l, id, name, w, { force: opts.force, deleteBranch: opts.deleteBranch }), ...(stopped ? { stopped } : {}) };
}
