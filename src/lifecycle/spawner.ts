// Layer lifecycle/: what starts and stops processes. The wrapper, spawning, the kill sequence,
// waiting, retiring, the sweep, history and logs. Imports base/, sys/ and handle/.
import { ENDED_COMM } from "../handle/verdict.ts";
import { closeSync, existsSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { fsError, KraalError } from "../base/errors.ts";
import { type Handle, HANDLE_VERSION, MAX_HANDLE_BYTES, serializeHandle, writeFileAtomic } from "../handle/handle.ts";
import { EXIT_RECORD_PLACEHOLDER } from "../handle/exit-record.ts";
import { encodeId } from "../handle/id.ts";
import { acquireLock } from "../handle/lock.ts";
import { awaitLogWriter, DEFAULT_LOG_MAX, logPath, startLogWriter, startNewRun } from "./log-files.ts";
import { saveSpawnSpec } from "./spawn-spec.ts";
import { currentIdentity, readStat } from "../handle/probes.ts";
import { retireIfEnded } from "./retire.ts";
import { ensureLayout, type Layout } from "../handle/state.ts";
import { createFresh, O_APPEND, openSafe } from "../sys/safe-fs.ts";
import { DEFAULT_GRACE_MS } from "./terminate.ts";
import { graceSeconds, WRAPPER_NAME, wrapperArgv, wrapperEnv } from "./wrapper.ts";
import { dropCgroup, endCgroup, prepareCgroup } from "./contain.ts";
import type { CgroupRef } from "../sys/cgroup-ops.ts";

export interface SpawnRequest {
  id: string;
  argv: string[];
  cwd: string;
  /** The agent's complete environment. */
  env: Record<string, string>;
  mode?: string;
  /** Grace the wrapper gives leftovers after its agent ends on its own, or after its supervisor died. */
  graceMs?: number;
  /**
   * Attached to a supervising kraal (run, up): stdio as given, a parent-death pipe on fd 4, and
   * leftovers left to the supervisor. Detached (spawn): stdio to the log, nothing tied to kraal.
   */
  attached?: {
    stdout: "inherit" | "pipe";
    stderr: "inherit" | "pipe";
    stdin: "inherit" | "ignore";
    /** A pty for the wrapper (its controlling terminal; stdio 0-2 go to it, not to the above). */
    terminal?: Bun.TerminalOptions;
  };
  /** Rotate the log before starting (false for a restart within one supervisor session). */
  rotateLog?: boolean;
  /** The log's limit in bytes across its generations (detached agents; 0: unbounded; default DEFAULT_LOG_MAX). */
  logMax?: number;
  /** Extra fields recorded in the handle (e.g. restarts). */
  restarts?: number;
  /** Keep argv, cwd and env in specs/<id>, so `kraal restart` can start it again the same way. */
  saveSpec?: boolean;
  /** The worktree `cwd` is (recorded in the handle and the spec). */
  worktree?: Handle["worktree"];
}

/** A started agent: its handle, and for attached agents the wrapper process itself. */
export interface Started {
  handle: Handle;
  proc: ReturnType<typeof Bun.spawn>;
  /** The supervisor's end of the parent-death pipe (attached only); closing it ends the group. */
  deathFd: number | null;
}

/** How long a spawn waits for the previous run's wrapper to finish clearing its group. */
const CLEANUP_WAIT_MS = 5000;
/** How long a new run waits for the last run's log writer to write its last bytes. */
const PREVIOUS_WRITER_WAIT_MS = 1000;

/** Bun's own control variables: an agent that is itself a Bun program must not inherit kraal's. */
const BUN_CONTROL_VARS = /^(BUN_BE_BUN|BUN_OPTIONS|BUN_INSPECT.*|BUN_CONFIG_.*|BUN_RUNTIME_TRANSPILER_CACHE_PATH)$/;

/** The environment kraal gives an agent: the caller's, less Bun's control variables, plus `extra`. */
export function agentEnv(base: Record<string, string | undefined>, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !BUN_CONTROL_VARS.test(k)) env[k] = v;
  return Object.assign(env, extra);
}


/**
 * Checks that the agent's command can be run before anything starts, so the user gets one clear
 * line instead of a shell's complaint in a log. E_NOT_FOUND / E_NOT_EXECUTABLE (run maps them to
 * 127 / 126, as env(1) does).
 */
export function resolveCommand(cmd: string, path: string, cwd: string): string {
  const found = Bun.which(cmd, { PATH: path, cwd });
  if (found) return found;
  if (cmd.includes("/") && existsSync(resolve(cwd, cmd))) {
    throw new KraalError("E_NOT_EXECUTABLE", `cannot execute ${cmd}: not an executable file`, { facts: { cmd } });
  }
  // `kraal spawn x -- "sleep 5"`: one word with spaces is a shell line given as a program name.
  const hint = /\s/.test(cmd.trim()) ? `commands do not go through a shell: give the words separately (-- ${cmd.trim()}), or use -- sh -c ${JSON.stringify(cmd)}` : undefined;
  throw new KraalError("E_NOT_FOUND", `command not found: ${cmd}`, { hint, facts: { cmd } });
}

function checkCwd(cwd: string): void {
  let ok = false;
  try {
    ok = statSync(cwd).isDirectory();
  } catch {}
  if (!ok) throw new KraalError("E_BAD_CWD", `working directory ${cwd} does not exist or is not a directory`, { facts: { cwd } });
}

/**
 * Starts `argv` as an owned agent: a setsid'd wrapper whose process group is the agent's,
 * a handle written atomically to pids/ *before* the wrapper is told to start the agent, and
 * stdout+stderr appended to the agent's log. Under the state lock, so two spawns of one id race
 * to exactly one winner. If the handle cannot be written, the wrapper is killed before it ever
 * started the agent and the error says why.
 */
export async function spawnAgent(l: Layout, req: SpawnRequest): Promise<Started> {
  checkCwd(req.cwd);
  resolveCommand(req.argv[0]!, req.env.PATH ?? "", req.cwd);
  const name = encodeId(req.id);
  ensureLayout(l);
  const lock = await acquireLock(l.lock);
  try {
    let existing = retireIfEnded(l, name);
    // A wrapper whose agent just ended is still clearing leftovers for at most its grace: wait for it.
    const deadline = performance.now() + CLEANUP_WAIT_MS;
    while (existing?.state === "exited" && existing.ours && performance.now() < deadline) {
      await Bun.sleep(5);
      existing = retireIfEnded(l, name);
    }
    if (existing) {
      throw new KraalError("E_RUNNING", `agent ${JSON.stringify(req.id)} is already ${existing.state}${existing.reason ? ` (${existing.reason})` : ""}`, {
        hint: existing.state === "corrupt" ? "move the bad handle aside with: kraal sweep" : `stop it first with: kraal kill ${req.id}`,
        facts: { id: req.id },
      });
    }
    const startedAt = Date.now();
    const a = req.attached;
    if (req.rotateLog !== false) {
      // The last run's log writer may still be writing what its agent wrote last (it reopens the
      // log by name for every block): let it finish before its files become the previous run's,
      // or its last bytes would land in the new run's log. It ends at once unless something the
      // old agent started still holds its pipe (then the new run starts after the wait, as before).
      await awaitLogWriter(l, name, PREVIOUS_WRITER_WAIT_MS);
      startNewRun(l, name);
    }
    const logMax = req.logMax ?? DEFAULT_LOG_MAX;
    // Detached: through a rotating writer (bounded), or straight into the file when unbounded.
    const logFd = a ? null : logMax > 0 ? startLogWriter(l, name, logMax) : openSafe(logPath(l, name), O_APPEND);
    const exitFile = join(l.exits, name);
    let proc: ReturnType<typeof Bun.spawn>;
    let exitFd: number | null = null;
    // Its cgroup (cgroup tier), made before the spawn: Bun.spawn's `cgroup` (CLONE_INTO_CGROUP)
    // starts the wrapper inside it, so not one instruction of it or the agent runs outside.
    let cgroup: CgroupRef | null = null;
    try {
      cgroup = prepareCgroup(l.root, req.id);
      // The wrapper's exit record, made here and handed over as fd 6 (see wrapper.ts).
      exitFd = createFresh(exitFile);
      // Its bytes reserved now, while there is room (see EXIT_RECORD_PLACEHOLDER); position 0: pwrite, the offset stays 0.
      try {
        writeSync(exitFd, EXIT_RECORD_PLACEHOLDER, 0, "latin1");
      } catch (e) {
        try {
          unlinkSync(exitFile);
        } catch {}
        const why = fsError(Object.assign(e as object, { path: exitFile }))?.message ?? (e as Error).message;
        throw new KraalError("E_SPAWN", `could not start ${JSON.stringify(req.id)}: cannot write its handle and exit record: ${why}`, { facts: { id: req.id } });
      }
      proc = Bun.spawn(wrapperArgv(req.id, exitFile, graceSeconds(req.graceMs ?? DEFAULT_GRACE_MS), a ? "attached" : "detached", cgroup?.path ?? "", req.argv), {
        argv0: WRAPPER_NAME,
        cwd: req.cwd,
        env: wrapperEnv(req.env),
        detached: true,
        ...(cgroup ? { cgroup: cgroup.path } : {}),
        ...(a?.terminal ? { terminal: a.terminal } : {}),
        stdio: (a ? [a.stdin, a.stdout, a.stderr, "pipe", "pipe", "ignore", exitFd] : ["ignore", logFd!, logFd!, "pipe", "ignore", "ignore", exitFd]) as unknown as ["ignore", "pipe", "pipe", "pipe"],
      });
    } catch (e) {
      dropCgroup(cgroup ?? undefined);
      throw e;
    } finally {
      if (logFd !== null) closeSync(logFd);
      if (exitFd !== null) closeSync(exitFd);
    }
    const go = proc.stdio[3] as unknown as number;
    const abort = (why: string, cause?: unknown): never => {
      closeSync(go); // EOF: the wrapper exits without starting the agent
      try {
        unlinkSync(exitFile);
      } catch {}
      if (cgroup) {
        endCgroup(cgroup);
        dropCgroup(cgroup);
      }
      // An errno error (EACCES, EROFS, ENOSPC) is worded as everywhere else: the path, the errno, and the fix.
      const fs = cause ? fsError(cause) : null;
      const detail = cause ? `: ${fs?.message ?? (cause as Error).message}` : "";
      throw new KraalError("E_SPAWN", `could not start ${JSON.stringify(req.id)}: ${why}${detail}`, { hint: fs?.hint, facts: { id: req.id } });
    };
    const stat = readStat(proc.pid);
    if (!stat || stat.pgrp !== proc.pid) return abort("the wrapper did not start in its own process group");
    const me = currentIdentity();
    const handle: Handle = {
      v: HANDLE_VERSION,
      id: req.id,
      pgid: proc.pid,
      leaderStart: stat.startTicks,
      bootId: me.bootId,
      host: me.host,
      uid: me.uid,
      argv: req.argv,
      cwd: req.cwd,
      startedAt,
      mode: req.mode ?? "spawn",
      ...(req.restarts ? { restarts: req.restarts } : {}),
      ...(req.worktree ? { worktree: req.worktree } : {}),
      ...(cgroup ? { tier: "cgroup" as const, cgroup } : { tier: "group" as const }),
      endedComm: ENDED_COMM,
    };
    const text = serializeHandle(handle);
    if (Buffer.byteLength(text) > MAX_HANDLE_BYTES) abort(`its handle would be ${Buffer.byteLength(text)} bytes, more than a reader accepts (${MAX_HANDLE_BYTES})`);
    try {
      if (req.saveSpec) saveSpawnSpec(l, name, { argv: req.argv, cwd: req.cwd, env: req.env, ...(req.logMax !== undefined ? { logMax: req.logMax } : {}), ...(req.worktree ? { worktree: req.worktree } : {}) });
      writeFileAtomic(l.pids, name, text);
    } catch (e) {
      abort("cannot write its handle", e);
    }
    writeSync(go, "go\n");
    closeSync(go);
    if (!a) proc.unref();
    return { handle, proc, deathFd: a ? (proc.stdio[4] as unknown as number) : null };
  } finally {
    lock.release();
  }
}
