/**
 * `kraal mcp`'s speed, side by side with its floors (issue #11), for scripts/bench.ts to call or
 * to run alone:
 *
 *   bun scripts/bench-mcp.ts [--runs N] [--before OLD_KRAAL]
 *
 * - initialize: spawn `kraal mcp`, send `initialize`, read the answer, measured from the spawn;
 *   against a compiled Bun hello world's whole run (scripts/bench-floors/hello.ts). Target 1.5x.
 * - list_agents over 100 running agents: one tools/call round trip on a connected server, against
 *   a whole `kraal ps --json` over the same agents. Target 1.2x.
 * - with --before: `--version` and `ps` of an older build against dist/kraal (did the SDK make
 *   other commands slower?).
 * Medians of interleaved runs (A, B, A, B, ...), so the machine's drift lands on both sides.
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileLikeKraal } from "./bench-compile.ts";
import { scratchDir } from "./bench-scratch.ts";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist/kraal");
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const RUNS = Number(flag("--runs") ?? 30);

export interface McpRow {
  what: string;
  ms: number;
  floor: string;
  floorMs: number;
  target: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function wholeRun(cmd: string[], env?: Record<string, string>): number {
  const t = performance.now();
  const r = Bun.spawnSync(cmd, { env, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return performance.now() - t;
}

const INIT = `${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } })}\n`;

/** A line-oriented JSON-RPC peer on a spawned `kraal mcp`. */
function server(env: Record<string, string>, cmd: string[] = [BIN, "mcp"]) {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { env, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = p.stdout.getReader();
  let buf = "";
  const next = async (): Promise<any> => {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("kraal mcp closed stdout");
      buf += new TextDecoder().decode(value);
    }
    const i = buf.indexOf("\n");
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return JSON.parse(line);
  };
  const send = (o: string | object) => {
    p.stdin.write(typeof o === "string" ? o : `${JSON.stringify(o)}\n`);
    p.stdin.flush();
  };
  return { p, t0, next, send, close: async () => (p.stdin.end(), await p.exited) };
}

async function initializeOnce(env: Record<string, string>, cmd?: string[]): Promise<number> {
  const s = server(env, cmd);
  s.send(INIT);
  await s.next();
  const ms = performance.now() - s.t0;
  await s.close();
  return ms;
}

export async function benchMcp(opts: { runs?: number; before?: string } = {}): Promise<McpRow[]> {
  const runs = opts.runs ?? RUNS;
  const work = scratchDir("kraal-bench-mcp-");
  const env = { ...(process.env as Record<string, string>), KRAAL_DIR: join(work, "state"), NO_COLOR: "1" };
  const rows: McpRow[] = [];
  try {
    const hello = await compileLikeKraal(join(ROOT, "scripts/bench-floors/hello.ts"), join(ROOT, ".cache/bench/hello"));
    const init: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < 3; i++) (await initializeOnce(env), wholeRun([hello]));
    for (let i = 0; i < runs; i++) {
      init.push(await initializeOnce(env));
      floor.push(wholeRun([hello]));
    }
    rows.push({ what: "kraal mcp: initialize round trip", ms: median(init), floor: "hello world", floorMs: median(floor), target: 1.5 });
    // Informative: the SDK's own start-up, without kraal (a server with no tools, compiled alike).
    const sdk = await compileLikeKraal(join(ROOT, "scripts/bench-floors/mcp-sdk.ts"), join(ROOT, ".cache/bench/mcp-sdk"));
    const sdkInit: number[] = [];
    const kraalInit: number[] = [];
    for (let i = 0; i < runs; i++) {
      kraalInit.push(await initializeOnce(env));
      sdkInit.push(await initializeOnce(env, [sdk]));
    }
    rows.push({ what: "kraal mcp: initialize round trip", ms: median(kraalInit), floor: "the SDK alone (no tools)", floorMs: median(sdkInit), target: 1.5 });

    for (let i = 0; i < 100; i++) Bun.spawnSync([BIN, "spawn", `a${i}`, "--", "sleep", "600"], { env });
    const s = server(env);
    s.send(INIT);
    await s.next();
    s.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    const list: number[] = [];
    const ps: number[] = [];
    let id = 2;
    const listOnce = async () => {
      const t = performance.now();
      s.send({ jsonrpc: "2.0", id: id++, method: "tools/call", params: { name: "list_agents", arguments: {} } });
      const r = await s.next();
      if (r.result?.structuredContent?.agents?.length !== 100) throw new Error(`list_agents: ${JSON.stringify(r).slice(0, 200)}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 3; i++) (await listOnce(), wholeRun([BIN, "ps", "--json"], env));
    for (let i = 0; i < runs; i++) {
      list.push(await listOnce());
      ps.push(wholeRun([BIN, "ps", "--json"], env));
    }
    await s.close();
    rows.push({ what: "kraal mcp: list_agents, 100 agents", ms: median(list), floor: "kraal ps --json", floorMs: median(ps), target: 1.2 });

    if (opts.before) {
      for (const args of [["--version"], ["ps"]]) {
        const after: number[] = [];
        const before: number[] = [];
        for (let i = 0; i < runs; i++) {
          after.push(wholeRun([BIN, ...args], env));
          before.push(wholeRun([opts.before, ...args], env));
        }
        rows.push({ what: `kraal ${args.join(" ")} (100 agents), with the SDK`, ms: median(after), floor: "the build before it", floorMs: median(before), target: 1.05 });
      }
    }
  } finally {
    Bun.spawnSync([BIN, "kill", "--all"], { env });
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.main) {
  for (const r of await benchMcp({ before: flag("--before") })) {
    const ratio = r.ms / r.floorMs;
    console.log(`${r.what.padEnd(44)} ${r.ms.toFixed(1).padStart(7)} ms   ${r.floor.padEnd(20)} ${r.floorMs.toFixed(1).padStart(7)} ms   ${ratio.toFixed(2)}x (target ${r.target}x) ${ratio <= r.target ? "met" : "missed"}`);
  }
}
