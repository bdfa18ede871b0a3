/**
 * `npm run bench`: kraal's speed measured side by side, in one run, against the floors that
 * matter (a compiled Bun hello world, setsid+kill from a shell, Debian's start-stop-daemon).
 * Prints a table and writes BENCHMARKS.md. Timings are medians of whole-process wall time.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../package.json";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist/kraal");
const CACHE = join(ROOT, ".cache/bench");
const quick = process.argv.includes("--quick");
const RUNS = quick ? 10 : 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeOnce(cmd: string[], env?: Record<string, string>): number {
  const t = performance.now();
  const r = Bun.spawnSync(cmd, { env, stdout: "ignore", stderr: "pipe" });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return ms;
}

function timeMedian(cmd: string[], env?: Record<string, string>, runs = RUNS): number {
  for (let i = 0; i < 3; i++) timeOnce(cmd, env); // warm the page cache
  return median(Array.from({ length: runs }, () => timeOnce(cmd, env)));
}

/**
 * Medians of two commands measured alternately (A, B, A, B, ...), so that drift in the machine's
 * state (frequency, caches, other load) lands on both sides of a ratio alike.
 */
function timePair(a: string[], b: string[], env?: Record<string, string>, runs = RUNS): [number, number] {
  for (let i = 0; i < 3; i++) {
    timeOnce(a, env);
    timeOnce(b, env);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(timeOnce(a, env));
    tb.push(timeOnce(b, env));
  }
  return [median(ta), median(tb)];
}

async function helloWorld(): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const src = join(CACHE, "hello.ts");
  const out = join(CACHE, "hello");
  writeFileSync(src, 'console.log("hello");\n');
  const r = await Bun.build({ entrypoints: [src], compile: { outfile: out, autoloadDotenv: false, autoloadBunfig: false } as Bun.CompileBuildOptions, minify: true, bytecode: true, format: "esm", target: "bun" });
  if (!r.success) throw new Error("hello world build failed");
  return out;
}

function groupGone(pgid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pgid}/stat`, "latin1");
    return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

interface Row {
  what: string;
  ms: number;
  reference?: string;
  refMs?: number;
  target?: number;
  /** true when lower ratios are better and `target` is a maximum */
  note?: string;
}

const rows: Row[] = [];
const state = mkdtempSync(join(tmpdir(), "kraal-bench-"));
const env = { ...(process.env as Record<string, string>), KRAAL_DIR: state, NO_COLOR: "1" };
const kraal = (...args: string[]) => [BIN, ...args];
const run = (...args: string[]) => {
  const r = Bun.spawnSync(kraal(...args), { env, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`kraal ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.toString();
};

try {
  const hello = await helloWorld();
  const helloMs = timeMedian([hello]);
  rows.push({ what: "compiled Bun hello world", ms: helloMs, note: "the floor of any Bun design" });
  rows.push({ what: "kraal --version", ms: timeMedian(kraal("--version")), reference: "hello world", refMs: helloMs, target: 1.2 });

  const [versionMs2, runMs] = timePair(kraal("--version"), kraal("run", "--", "true"), env);
  rows.push({ what: "kraal run -- true", ms: runMs, reference: "kraal --version", refMs: versionMs2, target: 1.5 });

  // Spawn+kill cycles of a TERM-respecting agent.
  const floor = timeMedian(["sh", "-c", "setsid sleep 1000 </dev/null >/dev/null 2>&1 & kill -TERM -$! 2>/dev/null || kill -TERM $!; wait"]);
  rows.push({ what: "raw floor: setsid + kill from sh", ms: floor });
  const pidfile = join(state, "ssd.pid");
  const ssd = median(
    Array.from({ length: RUNS }, () =>
      timeOnce(["start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile", pidfile, "--exec", "/bin/sleep", "--", "1000"]) +
      timeOnce(["start-stop-daemon", "--stop", "--pidfile", pidfile, "--retry", "TERM/5/KILL/1", "--remove-pidfile"]),
    ),
  );
  rows.push({ what: "start-stop-daemon start+stop", ms: ssd });
  const cycle = median(Array.from({ length: RUNS }, () => timeOnce(kraal("spawn", "cycle", "--", "sleep", "1000"), env) + timeOnce(kraal("kill", "cycle"), env)));
  rows.push({ what: "kraal spawn+kill cycle", ms: cycle, reference: "start-stop-daemon", refMs: ssd, target: 1.5 });

  // kill latency and survivors.
  let survivors = 0;
  const killTerm = median(
    Array.from({ length: RUNS }, () => {
      const pgid = JSON.parse(run("spawn", "k", "--json", "--", "sleep", "1000")).pgid;
      const ms = timeOnce(kraal("kill", "k"), env);
      if (!groupGone(pgid)) survivors++;
      return ms;
    }),
  );
  rows.push({ what: "kill, TERM-respecting agent (grace 300ms)", ms: killTerm, reference: "grace", refMs: 300, target: 1 / 6, note: `${survivors} survivors` });
  let survivorsIgn = 0;
  const killIgn = median(
    Array.from({ length: quick ? 3 : 7 }, () => {
      const pgid = JSON.parse(run("spawn", "i", "--json", "--", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done")).pgid;
      const log = join(state, "logs/i.log");
      const deadline = performance.now() + 5000;
      while (!(existsSync(log) && readFileSync(log, "utf8").includes("ready")) && performance.now() < deadline) Bun.sleepSync(1);
      const ms = timeOnce(kraal("kill", "i"), env);
      if (!groupGone(pgid)) survivorsIgn++;
      return ms;
    }),
  );
  rows.push({ what: "kill, TERM-ignoring agent (grace 300ms)", ms: killIgn, reference: "grace + 60ms", refMs: 360, target: 1, note: `${survivorsIgn} survivors` });

  // ps over many running agents.
  for (let i = 0; i < 100; i++) run("spawn", `a${i}`, "--", "sleep", "1000");
  const [hello100, ps100] = timePair([hello], kraal("ps"), env);
  rows.push({ what: "ps, 100 running agents", ms: ps100, reference: "hello world", refMs: hello100, target: 1.3 });
  if (!quick) {
    for (let i = 100; i < 1000; i++) run("spawn", `a${i}`, "--", "sleep", "1000");
    const [hello1000, ps1000] = timePair([hello], kraal("ps"), env, 10);
    rows.push({ what: "ps, 1,000 running agents", ms: ps1000, reference: "hello world", refMs: hello1000, target: 2 });
  }
  run("kill", "--all");

  // kraal up with many agents: time to all running, and Ctrl-C to all gone.
  const upOnce = async (n: number, ignoreTerm = false) => {
    const dir = mkdtempSync(join(tmpdir(), "kraal-bench-up-"));
    const cmd = ignoreTerm ? `["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]` : `["sleep", "1000"]`;
    writeFileSync(join(dir, "kraal.toml"), Array.from({ length: n }, (_, i) => `[agents.u${i}]\ncmd = ${cmd}\n`).join(""));
    const upEnv = { ...env, KRAAL_DIR: join(dir, "state") };
    const t0 = performance.now();
    const p = Bun.spawn([BIN, "up"], { cwd: dir, env: upEnv, stdout: "pipe", stderr: "inherit" });
    let started = 0;
    let text = "";
    const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
    while (started < n) {
      const { value, done } = await reader.read();
      if (done) throw new Error("up ended early");
      text += new TextDecoder().decode(value);
      started = (text.match(/\[kraal\] started/g) ?? []).length;
    }
    const runningMs = performance.now() - t0;
    // Memory of one supervised agent: the wrapper (and its parent-death watcher) beside the agent.
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    const pgid = JSON.parse(Bun.spawnSync([BIN, "status", "u0", "--json"], { env: upEnv }).stdout.toString()).pgid as number;
    const children = readFileSync(`/proc/${pgid}/task/${pgid}/children`, "utf8").trim().split(/\s+/).map(Number);
    const mem = { wrapperKb: rss(pgid), childrenKb: children.map(rss) };
    const t1 = performance.now();
    p.kill("SIGINT");
    await p.exited;
    const stopMs = performance.now() - t1;
    void (async () => { for (;;) { const r = await reader.read(); if (r.done) break; } })();
    rmSync(dir, { recursive: true, force: true });
    return { runningMs, stopMs, mem };
  };
  const up1 = await upOnce(1);
  const up100 = await upOnce(100);
  rows.push({ what: "up, 1 agent: start until running", ms: up1.runningMs });
  rows.push({ what: "up, 100 agents: start until all running", ms: up100.runningMs, note: `${(up100.runningMs / 100).toFixed(1)} ms per agent` });
  rows.push({ what: "up, 1 agent: Ctrl-C until all gone", ms: up1.stopMs });
  rows.push({ what: "up, 100 agents: Ctrl-C until all gone", ms: up100.stopMs, reference: "1 agent", refMs: up1.stopMs, note: "TERM-respecting; the rest is 300 process exits on 2 cores" });
  const ign1 = await upOnce(1, true);
  const ign100 = await upOnce(100, true);
  rows.push({ what: "up, 1 TERM-ignoring agent: Ctrl-C until gone", ms: ign1.stopMs, note: "grace 300ms" });
  rows.push({ what: "up, 100 TERM-ignoring agents: Ctrl-C until gone", ms: ign100.stopMs, reference: "1 agent", refMs: ign1.stopMs, target: 1.5, note: "one grace for all: stopped in parallel" });
  const [a, b] = up100.mem.childrenKb;
  rows.push({ what: "memory per supervised agent (RSS)", ms: 0, note: `wrapper sh ${up100.mem.wrapperKb} KiB + watcher sh ${Math.min(a ?? 0, b ?? 0)} KiB, beside the agent (sleep) ${Math.max(a ?? 0, b ?? 0)} KiB` });

  // Sweep of stale handles against reading the same files with one cat.
  const N = quick ? 1000 : 10_000;
  const sweepDir = mkdtempSync(join(tmpdir(), "kraal-bench-sweep-"));
  const plant = () => {
    mkdirSync(join(sweepDir, "pids"), { recursive: true });
    for (let i = 0; i < N; i++) {
      writeFileSync(join(sweepDir, "pids", `s${i}`), `${JSON.stringify({ v: 1, id: `s${i}`, pgid: 1000 + (i % 30000), leaderStart: 1, bootId: "an-earlier-boot", host: hostname(), uid: process.getuid!(), argv: ["sleep", "1"], cwd: "/", startedAt: 1, mode: "spawn" })}\n`);
    }
  };
  const catMs: number[] = [];
  const sweepMs: number[] = [];
  for (let k = 0; k < 3; k++) {
    plant();
    catMs.push(timeOnce(["sh", "-c", 'cat "$0"/pids/* >/dev/null', sweepDir]));
    sweepMs.push(timeOnce(kraal("--dir", sweepDir, "sweep"), env));
    rmSync(join(sweepDir, "history.jsonl"), { force: true });
  }
  rmSync(sweepDir, { recursive: true, force: true });
  rows.push({ what: `sweep, ${N.toLocaleString("en")} stale handles`, ms: median(sweepMs), reference: "cat of the same files", refMs: median(catMs), target: 10 });
} finally {
  Bun.spawnSync(kraal("kill", "--all"), { env });
  rmSync(state, { recursive: true, force: true });
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const lines = rows.map((r) => {
  const ratio = r.refMs ? r.ms / r.refMs : undefined;
  const verdict = ratio === undefined || r.target === undefined ? "" : ratio <= r.target ? "met" : "MISSED";
  return `| ${r.what} | ${r.ms ? `${fmt(r.ms)} ms` : ""} | ${r.reference ? `${r.reference} (${fmt(r.refMs!)} ms)` : ""} | ${ratio ? `${ratio.toFixed(2)}×` : ""} | ${r.target ? `≤ ${r.target === 1 / 6 ? "1/6" : r.target}×` : ""} | ${verdict} | ${r.note ?? ""} |`;
});
const table = ["| measurement | median | compared with | ratio | target | | notes |", "|---|---|---|---|---|---|---|", ...lines].join("\n");
console.log(table);
if (!quick) {
  const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const bunVersion = Bun.version;
  const doc = readFileSync(join(ROOT, "BENCHMARKS.md"), "utf8");
  const begin = "<!-- bench:begin -->";
  const end = "<!-- bench:end -->";
  const body = `${begin}\nLast run: ${new Date().toISOString().slice(0, 10)}, kraal ${pkg.version}, Bun ${bunVersion}, ${cpu}, ${require("node:os").cpus().length} cores. Medians of ${RUNS} runs (wall time of the whole process, measured from a Bun parent with spawnSync).\n\n${table}\n${end}`;
  writeFileSync(join(ROOT, "BENCHMARKS.md"), doc.includes(begin) ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), body) : `${doc}\n${body}\n`);
  console.log("\nwrote BENCHMARKS.md");
}
