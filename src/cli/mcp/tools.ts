// The tools of `kraal mcp`: each a thin call into the core the CLI commands use, with a zod input
// schema and structured output (the `ps --json` objects). Loaded only by `kraal mcp`.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { resolve } from "node:path";
import { z } from "zod";
import { parseDuration } from "../../base/duration.ts";
import { EXIT, KraalError, UnknownAgentError, UsageError } from "../../base/errors.ts";
import { parseStopSignal, type StopSignalName, toShellStatus } from "../../base/exit-status.ts";
import { encodeId, validateId } from "../../handle/id.ts";
import { inspect } from "../../handle/inspect.ts";
import type { Layout } from "../../handle/state.ts";
import { hasRun } from "../../lifecycle/history.ts";
import { MAX_WINDOW_BYTES, readLogWindow } from "../../lifecycle/log-window.ts";
import { logPath } from "../../lifecycle/logs.ts";
import { agentEnv, spawnAgent } from "../../lifecycle/spawner.ts";
import { CONFIRM_MS, DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { waitForEnd } from "../../lifecycle/waiter.ts";
import { restartAgents, stopAgents } from "../../supervise/manage.ts";
import { type AgentRow, rowOfEntry, withDetails } from "../rows.ts";
import { listRows } from "../commands/ps.ts";
import { statusRow } from "../commands/status.ts";

/** What the tools share: the state directory, and the ids this server started (for --kill-on-exit). */
export interface ToolContext {
  layout: Layout;
  /** The directory relative `cwd`s are resolved against (the server's own). */
  cwd: string;
  spawned: Set<string>;
  /** Tool calls still running, so a disconnect can let them finish (briefly) before the server exits. */
  inflight: Set<Promise<unknown>>;
  /** Aborted when the server shuts down: waits end at once. */
  closing: AbortSignal;
}

/** Progress notifications while wait_agent waits. */
const PROGRESS_EVERY_MS = 1000;
const DEFAULT_WAIT = "30s";
const DEFAULT_LOG_BYTES = 64 * 1024;

/** A `ps --json` object; fields are only ever added, so more are allowed. */
const row = z.looseObject({
  id: z.string(),
  state: z.string(),
  pgid: z.number().nullable(),
  argv: z.array(z.string()),
  cwd: z.string().nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  reason: z.string(),
  worktree: z.string().optional(),
  branch: z.string().optional(),
  logPath: z.string().optional(),
});

const id = z.string().describe("Agent id (1-128 bytes of UTF-8, no control characters)");
const grace = z.string().optional().describe('How long to wait after the stop signal before SIGKILL, e.g. "300ms", "5s" (default 300ms)');
const signal = z.string().optional().describe("The stop signal: TERM (default), INT, HUP, QUIT, USR1 or USR2");
/** One agent's outcome in a batch: what the CLI prints per id, or its error line. */
const outcome = z.looseObject({ id: z.string(), result: z.string().optional(), error: z.string().optional() });

/** An error as a tool result: the CLI's one-line message (and its hint as a second item). */
export function toolError(e: unknown): CallToolResult {
  if (e instanceof KraalError) {
    return { isError: true, content: [{ type: "text", text: e.message }, ...(e.hint ? [{ type: "text" as const, text: e.hint }] : [])] };
  }
  return { isError: true, content: [{ type: "text", text: `internal error: ${(e as Error)?.message ?? String(e)}` }] };
}

function ok(structured: Record<string, unknown>, text = JSON.stringify(structured)): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/**
 * Runs a tool body; any failure becomes an isError result, never a crashed server. The call is
 * kept in `inflight` while it runs, so a disconnect can let it finish before the server exits.
 */
const guarded =
  (inflight: Set<Promise<unknown>>) =>
  <A>(body: (args: A, extra: Extra) => Promise<CallToolResult>) =>
  (args: A, extra: Extra): Promise<CallToolResult> => {
    const call = body(args, extra).catch(toolError);
    inflight.add(call);
    void call.finally(() => inflight.delete(call));
    return call;
  };

interface Extra {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification: (n: { method: "notifications/progress"; params: { progressToken: string | number; progress: number; total?: number; message?: string } }) => Promise<void>;
}

function checked(ids: string[]): string[] {
  for (const i of ids) validateId(i);
  return ids;
}

function stopOptions(a: { grace?: string; signal?: string }): { graceMs: number; signal: StopSignalName } {
  const graceMs = a.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(a.grace, "grace");
  const sig = parseStopSignal(a.signal ?? "TERM");
  if (!sig) throw new UsageError(`signal ${JSON.stringify(a.signal)}: expected one of TERM, INT, HUP, QUIT, USR1, USR2`);
  return { graceMs, signal: sig };
}

const detailed = (l: Layout, r: AgentRow) => (r.state === "corrupt" ? r : withDetails(r, l));

/** A batch's result: every outcome, and isError when any id failed (its message first). */
function batch(ids: string[], settled: PromiseSettledResult<object>[]): CallToolResult {
  const results = settled.map((s, i) => (s.status === "fulfilled" ? { ...(s.value as object) } : { id: ids[i]!, error: (s.reason as Error).message }));
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed.length) return { ...toolError(failed[0]!.reason), structuredContent: { results } };
  return ok({ results });
}

/** Registers every tool on `server`. */
export function registerTools(server: McpServer, ctx: ToolContext): void {
  const l = ctx.layout;
  const guard = guarded(ctx.inflight);

  server.registerTool(
    "spawn_agent",
    {
      description: "Start a command detached, as an owned agent in its own process group (kraal spawn). Its stdout+stderr go to its log. Returns its ps --json row.",
      inputSchema: {
        id,
        argv: z.array(z.string()).min(1).describe("The command and its arguments, run as argv (never through a shell)"),
        cwd: z.string().optional().describe("Working directory (default: the server's); with worktree, a directory in the repository"),
        env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional().describe("Extra environment variables"),
        worktree: z.union([z.boolean(), z.string()]).optional().describe("Run it in a new git worktree: true for <state>/worktrees/<id>, or a directory"),
        branch: z.string().optional().describe("With worktree: the new branch (default kraal/<id>)"),
        from: z.string().optional().describe("With worktree: the commit it starts from (default HEAD)"),
      },
      outputSchema: { agent: row },
    },
    guard(async (a: { id: string; argv: string[]; cwd?: string; env?: Record<string, string>; worktree?: boolean | string; branch?: string; from?: string }) => {
      validateId(a.id);
      const cwd = resolve(ctx.cwd, a.cwd ?? ".");
      const env = agentEnv(process.env, { KRAAL_AGENT_ID: a.id, ...(a.env ?? {}) });
      if (!a.worktree && (a.branch !== undefined || a.from !== undefined)) throw new UsageError(`${a.branch !== undefined ? "branch" : "from"} goes with worktree`);
      if (a.worktree) {
        const { spawnInWorktree } = await import("../../lifecycle/spawn-worktree.ts");
        await spawnInWorktree(l, { id: a.id, argv: a.argv, env, saveSpec: true }, { cwd, dir: typeof a.worktree === "string" ? resolve(ctx.cwd, a.worktree) : undefined, branch: a.branch, from: a.from });
      } else {
        await spawnAgent(l, { id: a.id, argv: a.argv, cwd, env, saveSpec: true });
      }
      ctx.spawned.add(a.id);
      return ok({ agent: withDetails(rowOfEntry(inspect(l, encodeId(a.id))), l) });
    }),
  );

  server.registerTool(
    "kill_agent",
    {
      description: "Stop agents (kraal kill): the stop signal to the group, wait up to the grace, SIGKILL, confirm it is gone, retire the handle.",
      inputSchema: {
        ids: z.array(id).optional().describe("Agent ids"),
        all: z.boolean().optional().describe("Stop every agent of this state directory kraal can prove is its own"),
        grace,
        signal,
        rm_worktree: z.boolean().optional().describe("Then remove each agent's git worktree, if nothing would be lost"),
      },
      outputSchema: { results: z.array(outcome) },
    },
    guard(async (a: { ids?: string[]; all?: boolean; grace?: string; signal?: string; rm_worktree?: boolean }) => {
      const opts = stopOptions(a);
      let ids = checked(a.ids ?? []);
      if (a.all) {
        if (ids.length) throw new UsageError("give agent ids or all, not both");
        const { stopSupervisor } = await import("../../supervise/up.ts");
        await stopSupervisor(l, opts.graceMs + CONFIRM_MS + 30_000);
        const { sweep } = await import("../../lifecycle/sweep.ts");
        ids = (await sweep(l, { busyOk: true })).kept.filter((e) => e.verdict.state !== "foreign" && e.verdict.state !== "unverified").map((e) => e.id!);
      } else if (ids.length === 0) throw new UsageError("which agents? give ids or all");
      const settled = await stopAgents(l, ids, opts);
      if (!a.rm_worktree) return batch(ids, settled);
      const { removeAgentWorktree } = await import("../../supervise/worktrees.ts");
      const withWorktrees = await Promise.allSettled(
        settled.map(async (s) => {
          if (s.status === "rejected") throw s.reason;
          return { ...s.value, worktree: await removeAgentWorktree(l, s.value.id, opts) };
        }),
      );
      return batch(ids, withWorktrees);
    }),
  );

  server.registerTool(
    "list_agents",
    {
      description: "List agents (kraal ps --json): one object per agent with id, state, pgid, argv, cwd, times, exit status, worktree.",
      inputSchema: { include_finished: z.boolean().optional().describe("Also finished agents from history (ps -a)") },
      outputSchema: { agents: z.array(row) },
      annotations: { readOnlyHint: true },
    },
    guard(async (a: { include_finished?: boolean }) => {
      const rows = (await listRows(l, Boolean(a.include_finished))).map((r) => detailed(l, r));
      return ok({ agents: rows });
    }),
  );

  server.registerTool(
    "agent_status",
    {
      description: "One agent's ps --json object (kraal status --json): running, exited, stale, ...; its last run from history if it has ended.",
      inputSchema: { id },
      outputSchema: { agent: row },
      annotations: { readOnlyHint: true },
    },
    guard(async (a: { id: string }) => {
      validateId(a.id);
      const r = await statusRow(l, a.id);
      if (!r) throw new UnknownAgentError(a.id, EXIT.unknown);
      return ok({ agent: detailed(l, r) });
    }),
  );

  server.registerTool(
    "agent_logs",
    {
      description: `An agent's combined stdout+stderr, bounded: the last N lines (default 100), or the bytes from an offset (poll with next_offset). At most max_bytes (default ${DEFAULT_LOG_BYTES}, at most ${MAX_WINDOW_BYTES}).`,
      inputSchema: {
        id,
        lines: z.number().int().min(0).optional().describe("The last N lines"),
        offset: z.number().int().min(0).optional().describe("Bytes from this offset on (instead of lines)"),
        max_bytes: z.number().int().min(1).max(MAX_WINDOW_BYTES).optional().describe("Upper bound on the bytes returned"),
        previous: z.boolean().optional().describe("The previous run's log"),
      },
      outputSchema: { id: z.string(), text: z.string(), offset: z.number(), next_offset: z.number(), size: z.number(), truncated: z.boolean() },
      annotations: { readOnlyHint: true },
    },
    guard(async (a: { id: string; lines?: number; offset?: number; max_bytes?: number; previous?: boolean }) => {
      validateId(a.id);
      if (a.lines !== undefined && a.offset !== undefined) throw new UsageError("give lines or offset, not both");
      const name = encodeId(a.id);
      const w = readLogWindow(logPath(l, name, a.previous), { lines: a.lines, offset: a.offset, maxBytes: a.max_bytes ?? DEFAULT_LOG_BYTES });
      if (!w) {
        const known = inspect(l, name).read.kind !== "missing" || hasRun(l.history, a.id);
        if (!known) throw new UnknownAgentError(a.id);
      }
      const out = { id: a.id, text: w?.text ?? "", offset: w?.offset ?? 0, next_offset: w?.nextOffset ?? 0, size: w?.size ?? 0, truncated: w?.truncated ?? false };
      return { content: [{ type: "text", text: out.text }], structuredContent: out };
    }),
  );

  server.registerTool(
    "wait_agent",
    {
      description: `Wait until an agent ends (kraal wait), up to a timeout (default ${DEFAULT_WAIT}); sends progress notifications while waiting when the request has a progressToken. A timeout is not an error: ended is false.`,
      inputSchema: { id, timeout: z.string().optional().describe('How long to wait, e.g. "30s", "10m"') },
      outputSchema: { id: z.string(), ended: z.boolean(), timedOut: z.boolean(), exitCode: z.number().nullable(), signal: z.string().nullable(), status: z.number().nullable() },
    },
    guard(async (a: { id: string; timeout?: string }, extra) => {
      validateId(a.id);
      const timeoutMs = parseDuration(a.timeout ?? DEFAULT_WAIT, "timeout");
      const started = performance.now();
      const token = extra._meta?.progressToken;
      const ticker =
        token === undefined
          ? undefined
          : setInterval(() => {
              const s = Math.round((performance.now() - started) / 1000);
              void extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: s, total: Math.round(timeoutMs / 1000), message: `${a.id} still running after ${s}s` } }).catch(() => {});
            }, PROGRESS_EVERY_MS);
      try {
        const cancelled = new Promise<"cancelled">((res) => {
          for (const sig of [extra.signal, ctx.closing]) sig.addEventListener("abort", () => res("cancelled"), { once: true });
        });
        const end = await Promise.race([waitForEnd(l, a.id, encodeId(a.id), { timeoutMs }), cancelled]);
        if (end === "cancelled") throw new KraalError("E_CANCELLED", `wait for ${a.id} cancelled`);
        const out =
          end === "timeout"
            ? { id: a.id, ended: false, timedOut: true, exitCode: null, signal: null, status: null }
            : { id: a.id, ended: true, timedOut: false, exitCode: end.exitCode, signal: end.signal, status: toShellStatus(end) };
        return ok(out, end === "timeout" ? `${a.id} still running after ${a.timeout ?? DEFAULT_WAIT}` : JSON.stringify(out));
      } finally {
        if (ticker) clearInterval(ticker);
      }
    }),
  );

  server.registerTool(
    "restart_agent",
    {
      description: "Stop agents, then start them again (kraal restart): in place under kraal up, with the same argv, cwd, env and worktree if spawned.",
      inputSchema: { ids: z.array(id).min(1), grace, signal },
      outputSchema: { results: z.array(outcome) },
    },
    guard(async (a: { ids: string[]; grace?: string; signal?: string }) => {
      const ids = checked(a.ids);
      const settled = await restartAgents(l, ids, stopOptions(a));
      settled.forEach((s) => s.status === "fulfilled" && ctx.spawned.add(s.value.id));
      return batch(ids, settled);
    }),
  );
}
