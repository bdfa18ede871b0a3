import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { BIN, isDeadOrZombie, kraal, track, useTempState, waitUntil } from "../helpers.ts";

const t = useTempState();
const TIMEOUT = 30_000;

const gitEnv = () => ({
  ...t.env,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
});

function repo(): string {
  const dir = join(t.dir, "repo");
  mkdirSync(dir);
  for (const args of [["init", "--quiet", "-b", "main"], ["commit", "--quiet", "--allow-empty", "-m", "first"]]) {
    const r = Bun.spawnSync(["git", ...args], { cwd: dir, env: gitEnv() });
    if (r.exitCode !== 0) throw new Error(`git ${args[0]} failed`);
  }
  return dir;
}

/** A real MCP client connected to `kraal mcp`, the compiled binary, over stdio. */
async function connect(extra: string[] = []): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string; protocolErrors: string[] }> {
  const transport = new StdioClientTransport({ command: BIN, args: ["mcp", ...extra], env: gitEnv(), cwd: t.dir, stderr: "pipe" });
  let err = "";
  transport.stderr?.on("data", (d) => (err += d.toString()));
  const client = new Client({ name: "kraal-test", version: "1" });
  // The client reports here any line on the server's stdout that is not a protocol message.
  const protocolErrors: string[] = [];
  client.onerror = (e) => protocolErrors.push(e.message);
  await client.connect(transport);
  return { client, transport, stderr: () => err, protocolErrors };
}

type Result = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: any };
const call = (c: Client, name: string, args: Record<string, unknown>, opts?: object) => c.callTool({ name, arguments: args }, undefined, opts) as Promise<Result>;

describe("kraal mcp", () => {
  test("initialize, list tools with schemas, spawn in a worktree, list, logs, wait, kill", async () => {
    const dir = repo();
    const { client } = await connect();
    try {
      expect(client.getServerVersion()?.name).toBe("kraal");
      const { tools } = await client.listTools();
      expect(tools.map((x) => x.name).sort()).toEqual(["agent_logs", "agent_status", "kill_agent", "list_agents", "restart_agent", "spawn_agent", "wait_agent"]);
      for (const tool of tools) {
        expect(tool.inputSchema.type).toBe("object");
        expect(tool.outputSchema?.type).toBe("object");
      }

      const s = await call(client, "spawn_agent", { id: "w", argv: ["sh", "-c", "echo hello; echo world; sleep 60"], cwd: dir, worktree: true });
      expect(s.isError).toBeFalsy();
      const agent = s.structuredContent.agent;
      track(agent.pgid);
      const path = join(t.layout.root, "worktrees", "w");
      expect(agent).toMatchObject({ id: "w", state: "running", cwd: path, worktree: path, branch: "kraal/w" });

      const list = await call(client, "list_agents", {});
      expect(list.structuredContent.agents.map((a: { id: string }) => a.id)).toEqual(["w"]);
      // The same objects as ps --json, as far as the fields that do not move go.
      const ps = JSON.parse(kraal(["ps", "--json"], { env: t.env }).stdout);
      expect(list.structuredContent.agents[0]).toMatchObject({ id: ps[0].id, pgid: ps[0].pgid, state: ps[0].state, worktree: ps[0].worktree, branch: ps[0].branch });

      const logs = await waitUntil(async () => {
        const r = await call(client, "agent_logs", { id: "w", lines: 1 });
        return r.structuredContent.text === "world\n" ? r : null;
      }, { timeoutMs: 10_000, what: "the agent's output" });
      expect(logs.structuredContent).toMatchObject({ id: "w", truncated: false });
      const since = await call(client, "agent_logs", { id: "w", offset: 6, max_bytes: 3 });
      expect(since.structuredContent).toMatchObject({ text: "wor", offset: 6, next_offset: 9, truncated: true });

      const progress: number[] = [];
      const waited = await call(client, "wait_agent", { id: "w", timeout: "1500ms" }, { onprogress: (p: { progress: number }) => progress.push(p.progress) });
      expect(waited.structuredContent).toMatchObject({ id: "w", ended: false, timedOut: true });
      expect(progress.length).toBeGreaterThan(0);

      const killed = await call(client, "kill_agent", { ids: ["w"], grace: "1s" });
      expect(killed.isError).toBeFalsy();
      expect(killed.structuredContent.results[0]).toMatchObject({ id: "w", result: "stopped" });
      await waitUntil(() => isDeadOrZombie(agent.pgid), { timeoutMs: 5000 });

      const ended = await call(client, "wait_agent", { id: "w", timeout: "5s" });
      expect(ended.structuredContent).toMatchObject({ ended: true, signal: "SIGTERM", status: 143 });
      const status = await call(client, "agent_status", { id: "w" });
      expect(status.structuredContent.agent).toMatchObject({ id: "w", history: true });
    } finally {
      await client.close();
    }
  }, TIMEOUT);

  test("restart_agent, kill_agent with a signal, all and rm_worktree, list_agents with finished ones; nothing but protocol on stdout", async () => {
    const dir = repo();
    const { client, protocolErrors } = await connect();
    try {
      const script = 'echo "run $KRAAL_AGENT_ID"; trap "echo got-INT; exit 0" INT; while :; do sleep 0.05; done';
      const a = await call(client, "spawn_agent", { id: "a", argv: ["sh", "-c", script], cwd: dir, worktree: true });
      const b = await call(client, "spawn_agent", { id: "b", argv: ["sleep", "60"] });
      const first = track(a.structuredContent.agent.pgid);
      track(b.structuredContent.agent.pgid);

      const r = await call(client, "restart_agent", { ids: ["a"] });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent.results[0]).toMatchObject({ id: "a", result: "restarted" });
      const again = track(r.structuredContent.results[0].pgid);
      expect(again).not.toBe(first);
      await waitUntil(() => isDeadOrZombie(first), { timeoutMs: 5000, what: "the first run to be gone" });
      const row = (await call(client, "agent_status", { id: "a" })).structuredContent.agent;
      expect(row).toMatchObject({ state: "running", pgid: again, worktree: join(t.layout.root, "worktrees", "a"), branch: "kraal/a" });

      // INT, which the agent handles, is the signal sent: it exits 0 on its own, and its clean worktree goes.
      await waitUntil(async () => (await call(client, "agent_logs", { id: "a" })).structuredContent.text === "run a\n", { timeoutMs: 5000, what: "the second run's trap to be set" });
      const k = await call(client, "kill_agent", { ids: ["a"], signal: "INT", grace: "5s", rm_worktree: true });
      expect(k.isError).toBeFalsy();
      expect(k.structuredContent.results[0]).toMatchObject({ id: "a", signal: "SIGINT", worktree: { result: "removed", branchDeleted: false } });
      expect((await call(client, "agent_logs", { id: "a" })).structuredContent.text).toBe("run a\ngot-INT\n");
      const all = await call(client, "kill_agent", { all: true });
      expect(all.structuredContent.results.map((x: { id: string; result: string }) => [x.id, x.result])).toEqual([["b", "stopped"]]);

      expect((await call(client, "list_agents", {})).structuredContent.agents).toEqual([]);
      const finished = (await call(client, "list_agents", { include_finished: true })).structuredContent.agents;
      expect(finished.map((x: { id: string }) => x.id).sort()).toEqual(["a", "a", "b"]);
      expect(finished.every((x: { history?: boolean }) => x.history)).toBe(true);
      expect(protocolErrors).toEqual([]);
    } finally {
      await client.close();
    }
  }, TIMEOUT);

  test("SIGTERM ends the server; its agents keep running", async () => {
    const { client, transport } = await connect();
    const s = await call(client, "spawn_agent", { id: "stays", argv: ["sleep", "60"] });
    const pgid = track(s.structuredContent.agent.pgid);
    const pid = transport.pid!;
    process.kill(pid, "SIGTERM");
    await waitUntil(() => isDeadOrZombie(pid), { timeoutMs: 10_000, what: "the server to exit" });
    expect(isDeadOrZombie(pgid)).toBe(false);
    await client.close();
  }, TIMEOUT);

  test("errors are tool results with the CLI's message: an unknown id, a bad argument", async () => {
    const { client } = await connect();
    try {
      const cli = kraal(["kill", "nobody"], { env: t.env });
      const r = await call(client, "kill_agent", { ids: ["nobody"] });
      expect(r.isError).toBe(true);
      expect(`kraal: error: ${r.content[0]!.text}`).toBe(cli.stderr.split("\n")[0]!);
      const st = await call(client, "agent_status", { id: "nobody" });
      expect(st.isError).toBe(true);
      expect(st.content[0]!.text).toBe('no agent named "nobody"');
      const bad = await call(client, "spawn_agent", { id: "x", argv: [] });
      expect(bad.isError).toBe(true);
      expect(bad.content[0]!.text).toContain("argv");
      const badGrace = await call(client, "kill_agent", { ids: ["x"], grace: "soon" });
      expect(badGrace.isError).toBe(true);
      expect(badGrace.content[0]!.text).toContain("grace");
      const notFound = await call(client, "spawn_agent", { id: "x", argv: ["no-such-command-kraal"] });
      expect(notFound.content[0]!.text).toBe("command not found: no-such-command-kraal");
      const notGit = await call(client, "spawn_agent", { id: "x", argv: ["true"], worktree: true });
      expect(notGit.content[0]!.text).toBe(`--worktree: ${t.dir} is not in a git repository`);
      // The server is still there.
      expect((await call(client, "list_agents", {})).structuredContent.agents).toEqual([]);
    } finally {
      await client.close();
    }
  }, TIMEOUT);

  test("a malformed line gets a JSON-RPC error and the server goes on; stdin EOF ends it, agents keep running", async () => {
    const p = Bun.spawn([BIN, "mcp"], { env: t.env, cwd: t.dir, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = p.stdout.getReader();
    let buf = "";
    const nextMessage = async () => {
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`server closed stdout; stderr: ${await new Response(p.stderr).text()}`);
        buf += new TextDecoder().decode(value);
      }
      const i = buf.indexOf("\n");
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return JSON.parse(line); // every line on stdout is protocol
    };
    const send = (o: unknown) => p.stdin.write(`${typeof o === "string" ? o : JSON.stringify(o)}\n`);
    try {
      send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
      expect((await nextMessage()).result.serverInfo.name).toBe("kraal");
      send({ jsonrpc: "2.0", method: "notifications/initialized" });
      send("{this is not json");
      expect(await nextMessage()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
      send({ hello: "world" });
      expect((await nextMessage()).error.code).toBe(-32600);
      send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "spawn_agent", arguments: { id: "keeps", argv: ["sleep", "60"] } } });
      const spawned = await nextMessage();
      expect(spawned.id).toBe(2);
      const pgid = track(spawned.result.structuredContent.agent.pgid);
      // A wait in flight does not keep the server alive once the client is gone.
      send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "wait_agent", arguments: { id: "keeps", timeout: "10m" } } });
      await Bun.sleep(200);
      const eof = performance.now();
      p.stdin.end();
      expect(await p.exited).toBe(0);
      expect(performance.now() - eof).toBeLessThan(3000);
      expect(isDeadOrZombie(pgid)).toBe(false);
      expect(JSON.parse(kraal(["status", "keeps", "--json"], { env: t.env }).stdout).state).toBe("running");
    } finally {
      p.kill();
    }
  }, TIMEOUT);

  test("--kill-on-exit stops the agents it spawned when the client disconnects, and only those", async () => {
    const other = kraal(["spawn", "other", "--json", "--", "sleep", "60"], { env: t.env });
    const otherPgid = track(JSON.parse(other.stdout).pgid);
    const { client, transport } = await connect(["--kill-on-exit"]);
    const s = await call(client, "spawn_agent", { id: "mine", argv: ["sleep", "60"] });
    const pgid = track(s.structuredContent.agent.pgid);
    const pid = transport.pid!;
    await client.close();
    await waitUntil(() => isDeadOrZombie(pgid), { timeoutMs: 10_000, what: "the spawned agent to be stopped" });
    await waitUntil(() => isDeadOrZombie(pid), { timeoutMs: 10_000, what: "the server to exit" });
    expect(isDeadOrZombie(otherPgid)).toBe(false);
  }, TIMEOUT);
});

test("logs can be read in bounded windows that never split a character", async () => {
  const { readLogWindow } = await import("../../src/lifecycle/log-window.ts");
  const path = join(t.dir, "log");
  writeFileSync(path, "a\nbé\nc\n");
  expect(readLogWindow(path, { lines: 2, maxBytes: 100 })).toMatchObject({ text: "bé\nc\n", offset: 2, nextOffset: 8 });
  expect(readLogWindow(path, { offset: 2, maxBytes: 2 })).toMatchObject({ text: "b", nextOffset: 3, truncated: true });
  expect(readLogWindow(path, { offset: 3, maxBytes: 2 })).toMatchObject({ text: "é", nextOffset: 5 });
  expect(readLogWindow(path, { lines: 5, maxBytes: 4 })).toMatchObject({ text: "\nc\n", truncated: true });
  expect(readLogWindow(path, { offset: 100, maxBytes: 100 })).toMatchObject({ offset: 0, text: "a\nbé\nc\n" });
  expect(readLogWindow(join(t.dir, "none"), { maxBytes: 1 })).toBeNull();
}, 10_000);
