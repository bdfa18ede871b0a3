import { afterEach, beforeEach } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Handle } from "../src/handle/handle.ts";
import { readStat } from "../src/handle/probes.ts";
import { layoutOf, type Layout } from "../src/handle/state.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const BIN = join(ROOT, "dist/kraal");
export const FIXTURES = join(ROOT, "test/fixtures");

/** Polls `pred` until it returns a truthy value or `timeoutMs` passes on the monotonic clock. */
export async function waitUntil<T>(pred: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = performance.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const v = await pred();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? "condition"}`);
    await Bun.sleep(opts.intervalMs ?? 5);
  }
}

/** A process is gone for our purposes once it no longer exists or is a zombie. */
export function isDeadOrZombie(pid: number): boolean {
  const st = readStat(pid);
  return !st || st.state === "Z";
}

export function isRunning(pid: number): boolean {
  return !isDeadOrZombie(pid);
}

/** Every pgid a test started; killed in afterEach so no test leaves processes behind. */
const started = new Set<number>();
export function track(pgid: number): number {
  started.add(pgid);
  return pgid;
}
export function killTracked(): void {
  for (const pgid of started) {
    if (pgid > 1) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {}
    }
  }
  started.clear();
}

export interface TempState {
  dir: string;
  layout: Layout;
  env: Record<string, string>;
  cleanup(): void;
}

/** A fresh state directory (and scratch space) for one test. */
export function tempState(): TempState {
  const dir = mkdtempSync(join(tmpdir(), "kraal-test-"));
  const state = join(dir, "state");
  return {
    dir,
    layout: layoutOf(state),
    env: { ...(process.env as Record<string, string>), KRAAL_DIR: state, NO_COLOR: "1" },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Agents a test left running that it did not track (a restart's new run, say): kraal's own
 * `kill --all` ends them, proving each is ours first. Costs nothing when no handle is left.
 */
function stopLeftAgents(t: TempState): void {
  let names: string[] = [];
  try {
    names = readdirSync(t.layout.pids).filter((n) => !n.startsWith("."));
  } catch {}
  if (names.length) Bun.spawnSync([BIN, "kill", "--all"], { env: t.env, cwd: t.dir, stdout: "ignore", stderr: "ignore" });
}

/**
 * Gives every test of the calling file a fresh state directory, and afterwards kills every
 * process group it tracked and removes the directory. Returns a view of the current test's state.
 */
export function useTempState(): TempState {
  let current: TempState | undefined;
  beforeEach(() => {
    current = tempState();
  });
  afterEach(() => {
    killTracked();
    if (current) stopLeftAgents(current);
    current?.cleanup();
  });
  return new Proxy({} as TempState, { get: (_, key) => current![key as keyof TempState] });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled kraal binary to completion. */
export function kraal(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Run {
  const r = Bun.spawnSync([BIN, ...args], { env: opts.env, cwd: opts.cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? 128 + (r.signalCode ? 9 : 0), stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs kraal without waiting, for concurrency tests. */
export async function kraalAsync(args: string[], opts: { env?: Record<string, string> } = {}): Promise<Run> {
  const p = Bun.spawn([BIN, ...args], { env: opts.env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, stdout, stderr };
}

/** `kraal spawn` that must succeed; returns the pgid and tracks it for cleanup. */
export function spawnOk(t: TempState, id: string, argv: string[], extra: string[] = []): number {
  const r = kraal(["spawn", id, "--json", ...extra, "--", ...argv], { env: t.env, cwd: t.dir });
  if (r.code !== 0) throw new Error(`spawn ${id} failed (${r.code}): ${r.stderr}`);
  return track(JSON.parse(r.stdout).pgid);
}

/** Reads a pid a fixture wrote once it is ready. */
export async function readyPid(path: string, timeoutMs = 5000): Promise<number> {
  return waitUntil(() => {
    try {
      const n = Number(readFileSync(path, "utf8").trim());
      return n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }, { timeoutMs, what: `ready file ${path}` });
}

export const fixture = (name: string) => join(FIXTURES, name);

/** A valid handle record with test values; override what a test is about. */
export const sampleHandle = (over: Partial<Handle> = {}): Handle => ({
  v: 1, id: "a", pgid: 4242, leaderStart: 1000, bootId: "boot", host: "host", uid: 0,
  argv: ["sleep", "1"], cwd: "/", startedAt: 1_700_000_000_000, mode: "spawn", endedComm: "kraal-ended", ...over,
});

/** Makes the next process created on this machine get `pid` (root only), retrying if someone else takes it. */
export async function spawnWithPid(pid: number): Promise<number | null> {
  for (let attempt = 0; attempt < 50; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
    const p = Bun.spawn(["sleep", "1000"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
    p.unref();
    track(p.pid);
    if (p.pid === pid) return pid;
    process.kill(-p.pid, "SIGKILL");
  }
  return null;
}

export const canSetPid = (() => {
  try {
    writeFileSync("/proc/sys/kernel/ns_last_pid", readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
    return true;
  } catch {
    return false;
  }
})();

/**
 * Live processes (zombies excluded) whose environment carries KRAAL_TEST_TAG=`tag`, or a tag
 * `tag-...` derived from it: found by listing /proc, which only a test may do.
 */
export function taggedProcesses(tag: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, "latin1").split("\0");
      if (!env.some((v) => v === `KRAAL_TEST_TAG=${tag}` || v.startsWith(`KRAAL_TEST_TAG=${tag}-`))) continue;
      if (isDeadOrZombie(Number(d))) continue;
      out.push(Number(d));
    } catch {}
  }
  return out;
}

/** SIGKILLs each pid (what a failed test left, each found by its tag); ESRCH is fine. */
export function killPids(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

let tags = 0;
/** A KRAAL_TEST_TAG value no other test or run uses. */
export function newTag(label: string): string {
  return `${label}-${process.pid}-${++tags}-${Math.random().toString(36).slice(2, 8)}`;
}
