/**
 * A stripped-down kraal, compiled with kraal's flags, that does what one command does by calling
 * the same functions in the same order, and times each step with performance.now(). Run by
 * scripts/bench-breakdown.ts; prints one JSON object of step → ms on stderr.
 *
 *   probe ps | ps-json      the steps of `kraal ps` over $KRAAL_DIR
 *   probe run               the steps of `kraal run -- true`
 *   probe spawn ID | kill ID
 *
 * Every kraal module is imported dynamically, so the time to load each is a step of its own.
 * Steps that kraal does inside one function (the sweep, spawnAgent) are followed by extra,
 * separately timed repeats of their parts (marked "(repeat)"), to show what the whole is made of.
 */
import { writeSync } from "node:fs";

const t: Record<string, number> = {};
let last = performance.now();
t["runtime start → entry (performance.now at entry)"] = last;
const step = (name: string) => {
  const now = performance.now();
  t[name] = (t[name] ?? 0) + (now - last);
  last = now;
};
const repeat = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
  const a = performance.now();
  const r = await f();
  t[`${name} (repeat)`] = performance.now() - a;
  last = performance.now();
  return r;
};
step("node:fs");

const mode = process.argv[2]!;
const main = await import("../src/cli/main.ts");
void main;
step("load main.ts (citty, errors, help, output)");
const { layoutOf, resolveStateDir } = await import("../src/handle/state.ts");
const l = layoutOf(resolveStateDir({}));

if (mode === "ps" || mode === "ps-json") {
  await import("../src/cli/commands/ps.ts");
  step("load the ps command and what it imports");
  const { sweep } = await import("../src/lifecycle/sweep.ts");
  const report = await sweep(l);
  step("sweep (list, read + validate N handles, N stat reads, verdicts)");
  const { listNames } = await import("../src/handle/inspect.ts");
  const { names, files } = await repeat("sweep: list pids/", () => listNames(l));
  const { readHandle } = await import("../src/handle/handle.ts");
  const { readStat } = await import("../src/handle/probes.ts");
  const reads = await repeat("sweep: read + validate N handles", () => names.map((n) => readHandle(`${l.pids}/${n}`, files.has(n))));
  await repeat("sweep: N /proc/<pid>/stat reads", () => reads.map((r) => (r.kind === "handle" ? readStat(r.handle.pgid) : null)));
  const { rowsOfEntries, withSupervisor, withDetails } = await import("../src/cli/rows.ts");
  const { readSupervisor } = await import("../src/supervise/supervisor.ts");
  const rows = withSupervisor(rowsOfEntries(report.kept), readSupervisor(l));
  step("rows + supervisor record");
  const { writeOut, writeJson } = await import("../src/cli/output.ts");
  if (mode === "ps-json") {
    const detailed = rows.map((r) => withDetails(r, l));
    step("--json details (usage of each group: stat and children reads)");
    writeJson(detailed);
    step("JSON.stringify + write");
  } else {
    const { renderTable } = await import("../src/cli/commands/ps.ts");
    writeOut(renderTable(rows, Date.now(), false));
    step("render table + write");
    const { countEndedSince } = await import("../src/lifecycle/history.ts");
    countEndedSince(l.history, Date.now() - 3_600_000);
    step("history: finished in the last hour");
  }
} else if (mode === "run") {
  await import("../src/cli/commands/run.ts");
  step("load the run command and what it imports");
  const { loadLibc, becomeSubreaper } = await import("../src/sys/libc.ts");
  loadLibc();
  step("bun:ffi: dlopen libc");
  becomeSubreaper();
  step("prctl(PR_SET_CHILD_SUBREAPER)");
  const { sweep } = await import("../src/lifecycle/sweep.ts");
  await sweep(l);
  step("sweep (empty state)");
  const { acquireLock } = await import("../src/handle/lock.ts");
  await repeat("lock: acquire + release", async () => (await acquireLock(l.lock)).release());
  const { agentEnv, spawnAgent } = await import("../src/lifecycle/spawner.ts");
  const { Attached } = await import("../src/supervise/attached.ts");
  const id = `run-${process.pid}`;
  const started = await spawnAgent(l, { id, argv: ["true"], cwd: process.cwd(), graceMs: 300, mode: "run", env: agentEnv(process.env, { KRAAL_AGENT_ID: id }), attached: { stdin: "inherit", stdout: "inherit", stderr: "inherit" } });
  step("spawnAgent (checks, lock, Bun.spawn of the wrapper, stat, handle write, go)");
  const agent = new Attached(l, started, 300);
  await started.proc.exited;
  step("wrapper's life: sh start, watcher fork, fork+exec true, exits");
  await agent.done;
  step("after exit: exit record, reap, probe, retire (lock, history, unlink)");
  await repeat("Bun.spawn(sh -c true) + wait, for comparison", () => Bun.spawn(["sh", "-c", "true"]).exited);
} else if (mode === "spawn") {
  await import("../src/cli/commands/spawn.ts");
  step("load the spawn command and what it imports");
  const { agentEnv, spawnAgent } = await import("../src/lifecycle/spawner.ts");
  const id = process.argv[3]!;
  await spawnAgent(l, { id, argv: ["sleep", "1000"], cwd: process.cwd(), saveSpec: true, env: agentEnv(process.env, { KRAAL_AGENT_ID: id }) });
  step("spawnAgent (checks, bun:ffi + lock, Bun.spawn of the wrapper, stat, spec + handle write, go)");
} else if (mode === "kill") {
  await import("../src/cli/commands/kill.ts");
  step("load the kill command and what it imports");
  const { stopAgent } = await import("../src/lifecycle/stop.ts");
  await stopAgent(l, process.argv[3]!, { graceMs: 300 });
  step("stopAgent (inspect, TERM, poll until gone, bun:ffi + lock, retire)");
} else throw new Error(`probe: unknown mode ${mode}`);

writeSync(2, `${JSON.stringify(t)}\n`);
