// `kraal mcp`: an MCP server on stdio, built on the official SDK. This module and the SDK are
// loaded only by that command (a lazy import in commands/mcp.ts), so no other command pays for them.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Layout } from "../../handle/state.ts";
import { DEFAULT_GRACE_MS } from "../../lifecycle/terminate.ts";
import { stopAgents } from "../../supervise/manage.ts";
import { log } from "../output.ts";
import { registerTools } from "./tools.ts";
import { normalJitAfterStart } from "../../sys/jit.ts";

declare const KRAAL_VERSION: string | undefined;

const INSTRUCTIONS =
  "kraal supervises agents in owned process groups. spawn_agent starts a command detached (optionally in its own git worktree); " +
  "list_agents and agent_status show ps --json rows; agent_logs reads bounded output; wait_agent waits with progress; kill_agent and restart_agent stop and restart by handle.";

/** How long a disconnect lets tool calls in flight finish (a spawn, a kill's grace) before exiting. */
const DRAIN_MS = 5000;

/** JSON-RPC's codes for a line that is not JSON, and for JSON that is not a request. */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

/**
 * Serves the tools on stdin/stdout until the client disconnects (stdin EOF) or a signal ends
 * it; lets calls in flight finish (waits are cut short, the rest get DRAIN_MS), then resolves.
 * Nothing but protocol is written to stdout: console output goes to stderr.
 * A malformed line gets a JSON-RPC error and the server goes on. Agents it spawned keep running
 * after it exits (they are detached and owned by their handles) unless `killOnExit`.
 */
export async function serveMcp(opts: { layout: Layout; killOnExit: boolean; cwd?: string }): Promise<void> {
  // Anything that would print to stdout would corrupt the protocol stream.
  console.log = console.info = console.debug = console.error;
  const server = new McpServer({ name: "kraal", version: typeof KRAAL_VERSION === "string" ? KRAAL_VERSION : "dev" }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  const spawned = new Set<string>();
  const inflight = new Set<Promise<unknown>>();
  const closing = new AbortController();
  registerTools(server, { layout: opts.layout, cwd: opts.cwd ?? process.cwd(), spawned, inflight, closing: closing.signal });
  const transport = new StdioServerTransport();
  // The SDK reports an unreadable line here and drops it; the client deserves an answer.
  transport.onerror = (e: Error) => {
    const notJson = e instanceof SyntaxError;
    const reply = { jsonrpc: "2.0", id: null, error: { code: notJson ? PARSE_ERROR : INVALID_REQUEST, message: notJson ? "Parse error" : "Invalid Request" } };
    if (notJson || e.name === "ZodError") void transport.send(reply as unknown as JSONRPCMessage).catch(() => {});
    else log().warn(`mcp: ${e.message}`);
  };
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    closing.abort();
    await Promise.race([Promise.allSettled([...inflight]), Bun.sleep(DRAIN_MS)]);
    if (opts.killOnExit && spawned.size) {
      const ids = [...spawned];
      const settled = await stopAgents(opts.layout, ids, { graceMs: DEFAULT_GRACE_MS });
      settled.forEach((s, i) => s.status === "rejected" && log().warn(`could not stop ${ids[i]}: ${(s.reason as Error).message}`));
    }
    await server.close().catch(() => {});
    done();
  };
  process.stdin.on("end", shutdown);
  process.stdin.on("close", shutdown);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, shutdown);
  await server.connect(transport);
  normalJitAfterStart();
  await finished;
}
