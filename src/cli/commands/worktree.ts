import { defineCommand } from "../command.ts";
import { SYNOPSIS } from "../help.ts";
import { parseDuration } from "../../base/duration.ts";
import { UsageError } from "../../base/errors.ts";
import { parseStopSignal } from "../../base/exit-status.ts";
import type { WorktreeRemoval } from "../../lifecycle/worktree.ts";
import { DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { removeAgentWorktree } from "../../supervise/worktrees.ts";
import { writeJson, writeOut } from "../output.ts";
import { checkedId, globalArgs, jsonArg, layoutFrom } from "./_shared.ts";

/** One line on what removing a worktree did (shared with `kill --rm-worktree`). */
export function describeRemoval(r: WorktreeRemoval): string {
  const parts = [`${r.id}: worktree ${r.path} ${r.result}`];
  if (r.savedCommit) parts.push(`uncommitted work saved as commit ${r.savedCommit} on ${r.branch}`);
  if (r.savedBranch) parts.push(`commits of its detached HEAD kept on branch ${r.savedBranch}`);
  parts.push(r.branchDeleted ? `branch ${r.branch} deleted` : `branch ${r.branch} kept${r.branchKept ? ` (${r.branchKept})` : ""}`);
  return `${parts.join("; ")}\n`;
}

export default defineCommand({
  meta: { name: "worktree", description: "rm: stop the agent if it runs, then remove the git worktree kraal made for it, only if no uncommitted, untracked or unmerged work would be lost" },
  args: {
    action: { type: "positional", description: "What to do: rm", required: true, valueHint: "rm" },
    id: { type: "positional", description: "Agent id", required: true, valueHint: "ID" },
    force: { type: "boolean", description: "Remove anyway, after saving uncommitted and untracked work as a commit on the branch" },
    deleteBranch: { type: "boolean", description: "Also delete the branch, if every commit on it is on another branch or remote" },
    grace: { type: "string", description: "When stopping the agent: how long to wait after the stop signal before SIGKILL", default: "300ms", valueHint: "DURATION" },
    signal: { type: "string", description: "When stopping the agent: TERM, INT, HUP, QUIT, USR1 or USR2", default: "TERM", valueHint: "NAME" },
    ...jsonArg,
    ...globalArgs,
  },
  async run({ args }) {
    if (args.action !== "rm") throw new UsageError(`worktree: unknown action ${JSON.stringify(args.action)}`, `usage: kraal ${SYNOPSIS.worktree!.usage}`);
    const id = checkedId(args.id);
    const graceMs = args.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(args.grace, "--grace");
    const signal = parseStopSignal(args.signal ?? "TERM");
    if (!signal) throw new UsageError(`--signal ${JSON.stringify(args.signal)}: expected one of TERM, INT, HUP, QUIT, USR1, USR2`);
    const r = await removeAgentWorktree(layoutFrom(args), id, { graceMs, signal, force: args.force, deleteBranch: args.deleteBranch });
    if (args.json) writeJson(r);
    else writeOut(`${r.stopped ? `${id} ${r.stopped}\n` : ""}${describeRemoval(r)}`);
  },
});
