// Layer supervise/: kraal processes that stay attached to their agents (run, up): attached
// agents, the supervisor record, restart policy, config, output prefixes. Imports every layer but cli/.
import { Attached, type StopSignal } from "./attached.ts";
import type { AgentSpec } from "./config.ts";
import { fsError, KraalError } from "../base/errors.ts";
import { describeExit, type ExitStatus, type StopSignalName } from "../base/exit-status.ts";
import { formatDuration } from "../base/duration.ts";
import { ReadyGates } from "./gates.ts";
import { describeCheck, waitReady } from "./ready.ts";
import { encodeId } from "../handle/id.ts";
import { inspect } from "../handle/inspect.ts";
import { acquireLock } from "../handle/lock.ts";
import { DEFAULT_LOG_MAX, logPath, RotatingLog } from "../lifecycle/log-files.ts";
import { LineSplitter } from "./prefix.ts";
import { readStat } from "../handle/probes.ts";
import { decideRestart } from "./restart.ts";
import { agentEnv, spawnAgent } from "../lifecycle/spawner.ts";
import { ensureWorktree } from "../lifecycle/spawn-worktree.ts";
import { ensureLayout, type Layout } from "../handle/state.ts";
import { argvPreview, newSupervisorRecord, readSupervisor, removeSupervisor, requestStop, type SupervisedAgent, takeStopRequest, writeSupervisor } from "./supervisor.ts";
import { sweep } from "../lifecycle/sweep.ts";
import { type ControlRequest, type ControlResult, serveControl } from "./control.ts";
import { isLive } from "../handle/verdict.ts";
import { normalJitAfterStart } from "../sys/jit.ts";

export interface UpResult {
  /** The signal that stopped everything, if one did. */
  stoppedBy: StopSignal | null;
  /** The agent whose exit stopped everything (a Procfile entry, see AgentSpec.stopsOthers), and how it ended. */
  endedBy: { name: string; status: ExitStatus } | null;
  /** Every agent that ran ended with exit 0 (and none gave up). */
  allSucceeded: boolean;
}

export interface UpIO {
  /** One line of an agent's output, or a kraal event about it. */
  print(name: string, text: string): void;
  /** A kraal event about the whole set (shutdown), for the person at the terminal. */
  notice(text: string): void;
}

/** How long `kraal start` waits for the agent to start before answering without its pgid. */
const START_ANSWER_MS = 5000;

/** After an agent ends, how long to wait for the rest of its output to arrive. */
const OUTPUT_DRAIN_MS = 100;

/** Waits for `p` but at most `ms`, leaving no timer behind to keep the process alive. */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((done) => (timer = setTimeout(done, ms)))]);
  clearTimeout(timer);
}

/** Forwards an agent's stdout/stderr line by line to the terminal and, unprefixed, to its log. */
async function pump(stream: ReadableStream<Uint8Array>, name: string, log: RotatingLog, io: UpIO, onLine?: (line: string) => void): Promise<void> {
  const split = new LineSplitter();
  const emit = (lines: string[]) => {
    for (const l of lines) {
      io.print(name, l);
      onLine?.(l);
      log.write(Buffer.from(`${l}\n`));
    }
  };
  for await (const chunk of stream) emit(split.push(chunk));
  emit(split.end());
}

/**
 * `kraal up`: starts every agent as an attached owned handle (the parent-death pipe ends them
 * all if this process is SIGKILLed), shows their output with prefixes, restarts them by policy,
 * and on SIGINT/SIGTERM/SIGHUP (or `kraal down`) stops them all in parallel: TERM, grace, KILL;
 * a second SIGINT skips the grace. Keeps <state>/supervisor current for `ps` and `down`.
 */
export async function superviseAll(l: Layout, specs: AgentSpec[], configPath: string, io: UpIO): Promise<UpResult> {
  ensureLayout(l);
  await sweep(l);
  const record = newSupervisorRecord(configPath);
  const lock = await acquireLock(l.lock);
  try {
    const other = readSupervisor(l);
    if (other?.alive) {
      throw new KraalError("E_RUNNING", `kraal up is already running here (pid ${other.record.pid})`, { hint: "stop it first with: kraal down" });
    }
    writeSupervisor(l, record);
  } finally {
    lock.release();
  }
  const event = (name: string, text: string) => io.print(name, `[kraal] ${text}`);
  // The record is rewritten (temp file + rename) at most once per turn of the event loop: a start
  // of 100 agents changes 200 states in a burst, and one write per change made up O(N²) bytes and
  // most of up's start-up. Answers to `kraal stop/start/restart` flush it first, so what they
  // report is what `ps` then reads.
  // The write runs on a later turn, outside any caller that could catch its error: a throw here
  // (a full disk, a read-only state directory) would be an uncaught exception that ends up at once,
  // skipping its clean-up. The record only informs `ps` and `down`; the next change retries it.
  let saveQueued = false;
  let unwritten = false;
  const flush = () => {
    if (!saveQueued) return;
    saveQueued = false;
    try {
      writeSupervisor(l, record);
      unwritten = false;
    } catch (e) {
      if (!unwritten) io.notice(`[kraal] cannot update its record for ps and down: ${fsError(e)?.message ?? String(e)}; agents are still supervised`);
      unwritten = true;
    }
  };
  const save = () => {
    if (saveQueued) return;
    saveQueued = true;
    setImmediate(flush);
  };
  const setState = (spec: AgentSpec, s: Partial<SupervisedAgent>) => {
    record.agents[spec.name] = { ...(record.agents[spec.name] ?? { state: "running", restarts: 0, graceMs: spec.graceMs, ...argvPreview(spec.argv), cwd: spec.cwd }), ...s };
    save();
  };

  let stoppedBy: StopSignal | null = null;
  let endedBy: UpResult["endedBy"] = null;
  const stopping = () => stoppedBy !== null || endedBy !== null;
  let markStopped!: () => void;
  const stopped = new Promise<void>((done) => (markStopped = done));
  const gates = new ReadyGates(specs.map((s) => s.name));
  /** Listeners for each agent's output lines (readiness checks of the `log` kind). */
  const lineListeners = new Map<string, Set<(line: string) => void>>();
  const running = new Map<string, Attached>();
  const wakers = new Set<() => void>();
  const stopAll = (sig: StopSignal) => {
    if (stoppedBy && sig !== "SIGINT") return;
    const first = !stopping();
    if (stoppedBy === null) announceStop(sig);
    else if (sig === "SIGINT") io.notice("[kraal] second Ctrl-C: killing what is left now (SIGKILL)");
    stoppedBy ??= sig;
    markStopped();
    for (const a of running.values()) (first ? a.stop() : a.stop("SIGINT"));
    for (const wake of wakers) wake();
  };
  /** One line saying what is stopping, why, and how long it may take. */
  const announceStop = (sig: StopSignal) => {
    const n = running.size;
    const grace = Math.max(0, ...[...running.values()].map((a) => a.graceMs));
    const why = sig === "SIGINT" ? "Ctrl-C" : takeStopRequest(l) ?? sig;
    if (n === 0) return io.notice(`[kraal] ${why}: no agent is running; exiting`);
    io.notice(`[kraal] ${why}: stopping ${n} agent${n === 1 ? "" : "s"} (grace ${formatDuration(grace)})${sig === "SIGINT" ? "; Ctrl-C again to force" : ""}`);
  };
  /** A Procfile entry ended: stop the others (foreman's convention) and exit with its status. */
  const endAll = (spec: AgentSpec, status: ExitStatus) => {
    if (stopping()) return;
    endedBy = { name: spec.name, status };
    markStopped();
    event(spec.name, `exited (${describeExit(status)}); stopping the others (a Procfile entry ends them all; --can-die ${spec.name} keeps them running)`);
    for (const a of running.values()) a.stop();
    for (const wake of wakers) wake();
  };
  normalJitAfterStart();
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
    const h = () => stopAll(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });

  /** Sleeps `ms` (forever if Infinity) unless a stop of everything, or `wake(name)`, comes first. */
  const pause = (name: string, ms: number) =>
    new Promise<void>((done) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        if (wakeOne.get(name) === wake) wakeOne.delete(name);
        done();
      };
      const timer = Number.isFinite(ms) ? setTimeout(wake, ms) : undefined;
      wakers.add(wake);
      wakeOne.set(name, wake);
    });
  /** Agents stopped on request (kraal stop, kill, restart): not restarted until `start`. */
  const held = new Set<string>();
  /** Held agents asked to start again; the lifecycle lets go of them once it has seen the stop. */
  const startRequested = new Set<string>();
  const wakeOne = new Map<string, () => void>();
  /** The signal each agent stopped on request was sent first. */
  const stoppedWith = new Map<string, StopSignalName>();

  /**
   * While `spec` is held: shows it as stopped and waits for a start (or for everything to stop).
   * Returns whether it was held, so the caller starts its restart count afresh.
   */
  async function whileHeld(spec: AgentSpec): Promise<boolean> {
    const wasHeld = held.has(spec.name);
    while (held.has(spec.name) && !startRequested.has(spec.name) && !stopping()) {
      setState(spec, { state: "stopped", waitingFor: undefined, nextStartAt: undefined });
      await pause(spec.name, Infinity);
    }
    if (startRequested.delete(spec.name)) held.delete(spec.name);
    return wasHeld;
  }

  /** Once started, when does `spec` count as ready for its dependents? Opens its gate then. */
  function watchReadiness(spec: AgentSpec, agent: Attached, env: Record<string, string>): void {
    if (gates.isOpen(spec.name)) return;
    if (!spec.ready) return gates.open(spec.name, true);
    const ready = spec.ready;
    let ended = false;
    void agent.done.then(() => (ended = true));
    setState(spec, { state: "starting" });
    const lineContaining = (text: string) =>
      new Promise<void>((done) => {
        const set = lineListeners.get(spec.name) ?? new Set();
        lineListeners.set(spec.name, set);
        const listener = (line: string) => line.includes(text) && (set.delete(listener), done());
        set.add(listener);
      });
    void waitReady(ready, { cwd: spec.cwd, env, lineContaining, ended: () => ended || stopping() }).then((outcome) => {
      if (outcome === "ready") {
        if (record.agents[spec.name]?.state === "starting") setState(spec, { state: "running" });
        event(spec.name, `ready (${describeCheck(ready.check)})`);
        gates.open(spec.name, true);
      } else if (outcome === "timeout") {
        event(spec.name, `not ready after ${formatDuration(ready.timeoutMs)} (${describeCheck(ready.check)}); agents that depend on it will not start`);
        gates.open(spec.name, false);
      }
      // "ended": it ended (or up is stopping) before it was ready; a restart checks again.
    });
  }

  async function lifecycle(spec: AgentSpec): Promise<ExitStatus | "failed" | "skipped"> {
    try {
      return await supervise(spec);
    } finally {
      gates.open(spec.name, false); // if it never became ready, it never will
      notifyStarted(spec.name, null);
    }
  }

  /** Why an agent's last start failed, for the answer to a `kraal start` that waits for it. */
  const startFailures = new Map<string, string>();
  /** Who waits for an agent's next start (`kraal start`/`restart`): its pgid, or null if it will not start. */
  const startWaiters = new Map<string, Set<(pgid: number | null) => void>>();
  function notifyStarted(name: string, pgid: number | null): void {
    const set = startWaiters.get(name);
    startWaiters.delete(name);
    set?.forEach((f) => f(pgid));
  }
  /** The pgid of the agent's next start; undefined if it has not started within `ms` (it may be waiting for a dependency). */
  function nextStart(name: string, ms: number): Promise<number | null | undefined> {
    return new Promise((done) => {
      const timer = setTimeout(() => (set.delete(finish), done(undefined)), ms);
      const finish = (pgid: number | null) => (clearTimeout(timer), done(pgid));
      const set = startWaiters.get(name) ?? new Set();
      startWaiters.set(name, set);
      set.add(finish);
    });
  }

  async function supervise(spec: AgentSpec): Promise<ExitStatus | "failed" | "skipped"> {
    const existing = inspect(l, encodeId(spec.name)).verdict;
    if (isLive(existing)) {
      event(spec.name, `already running (pgid ${existing.handle?.pgid ?? existing.legacyPgid}); not started twice`);
      gates.open(spec.name, true);
      return "skipped";
    }
    if (spec.dependsOn.length) {
      setState(spec, { state: "waiting", waitingFor: spec.dependsOn });
      event(spec.name, `waiting for ${spec.dependsOn.join(", ")}`);
      const blocked = await gates.waitFor(spec.dependsOn, stopped);
      if (blocked === "stopped") {
        setState(spec, { state: "exited", waitingFor: undefined });
        return "skipped";
      }
      if (blocked) {
        event(spec.name, `not started: ${blocked} did not become ready`);
        setState(spec, { state: "failed", waitingFor: undefined });
        return "failed";
      }
    }
    let attempt = 0;
    let restarts = 0;
    let last: ExitStatus = { exitCode: null, signal: null };
    for (;;) {
      if (await whileHeld(spec)) attempt = 0;
      if (stopping()) return last;
      const startedAt = performance.now();
      let agent: Attached;
      let log: RotatingLog;
      try {
        const env = agentEnv(process.env, { ...spec.env, KRAAL_AGENT_ID: spec.name, KRAAL_RESTARTS: String(restarts) });
        const made = spec.worktree ? await ensureWorktree(l, spec.name, { cwd: spec.cwd, dir: spec.worktree.dir }) : undefined;
        if (made?.resumed) event(spec.name, `worktree ${made.path} made again on its kept branch ${made.branch}`);
        const worktree = made && { path: made.path, branch: made.branch, repo: made.repo };
        const started = await spawnAgent(l, {
          id: spec.name, argv: spec.argv, cwd: worktree?.path ?? spec.cwd, worktree, graceMs: spec.graceMs, mode: "up", restarts,
          env,
          attached: { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
          rotateLog: restarts === 0,
        });
        log = new RotatingLog(logPath(l, encodeId(spec.name)), spec.logMax ?? DEFAULT_LOG_MAX);
        agent = new Attached(l, started, spec.graceMs, spec.stopSignal);
        running.set(spec.name, agent);
        notifyStarted(spec.name, agent.pgid);
        // A stop of everything, or of this agent, that came while it was being started.
        if (stopping()) agent.stop();
        else if (held.has(spec.name)) agent.stop(stoppedWith.get(spec.name) ?? spec.stopSignal);
        setState(spec, { state: "running", restarts, nextStartAt: undefined, waitingFor: undefined });
        event(spec.name, `started (pgid ${agent.pgid})${restarts ? `, restart ${restarts}` : ""}`);
        watchReadiness(spec, agent, env);
        const proc = started.proc;
        const onLine = (line: string) => lineListeners.get(spec.name)?.forEach((f) => f(line));
        const output = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>, spec.name, log, io, onLine), pump(proc.stderr as ReadableStream<Uint8Array>, spec.name, log, io, onLine)]);
        const end = await agent.done;
        running.delete(spec.name);
        await settleWithin(output, OUTPUT_DRAIN_MS);
        log.close();
        last = end.status;
        if (end.leaked) event(spec.name, `left processes running in its group; ended them (${end.leftovers?.forced ? "SIGKILL after the grace" : "SIGTERM"})`);
        if (end.stuck) event(spec.name, `processes in group ${agent.pgid} did not die after SIGKILL; its handle is kept`);
      } catch (e) {
        event(spec.name, `could not start: ${(e as Error).message}`);
        setState(spec, { state: "failed", restarts });
        startFailures.set(spec.name, (e as Error).message);
        notifyStarted(spec.name, null); // a `kraal start` waiting for it gets its answer now
        return "failed";
      }
      const how = describeExit(last);
      if (held.has(spec.name) && !stopping()) {
        // Name the signal that was sent as well when it was not the one that ended it (KILL after the grace).
        const sent = stoppedWith.get(spec.name);
        const what = sent && last.signal === "SIGKILL" ? `${sent}, then SIGKILL after the grace` : how;
        event(spec.name, startRequested.has(spec.name) ? `stopped (${what}) for a restart` : `stopped (${what}) on request; not restarted until: kraal start ${spec.name}`);
        setState(spec, { state: "stopped", restarts, exitCode: last.exitCode, signal: last.signal });
        attempt = 0;
        continue;
      }
      const decision = decideRestart({ policy: spec.policy, status: last, ranForMs: performance.now() - startedAt, attempt, stopping: stopping() });
      if (decision.action === "done" && spec.stopsOthers && !stopping()) {
        endAll(spec, last);
        setState(spec, { state: "exited", restarts, exitCode: last.exitCode, signal: last.signal });
        return last;
      }
      if (decision.action === "done") {
        event(spec.name, stopping() ? `stopped (${how})` : `exited (${how})`);
        setState(spec, { state: "exited", restarts, exitCode: last.exitCode, signal: last.signal });
        return last;
      }
      if (decision.action === "give-up") {
        event(spec.name, `exited (${how}); gave up after ${restarts} restart${restarts === 1 ? "" : "s"} (max_restarts = ${spec.policy.maxRestarts})`);
        setState(spec, { state: "failed", restarts, exitCode: last.exitCode, signal: last.signal });
        return "failed";
      }
      attempt = decision.attempt;
      restarts++;
      event(spec.name, `exited (${how}); restarting in ${decision.delayMs}ms (${attempt}/${spec.policy.maxRestarts})`);
      setState(spec, { state: "backoff", restarts, nextStartAt: Date.now() + decision.delayMs, exitCode: last.exitCode, signal: last.signal });
      await pause(spec.name, decision.delayMs);
    }
  }

  /** Lifecycles under way, by agent; `start` relaunches one that has finished. */
  const active = new Map<string, Promise<unknown>>();
  const outcomes = new Map<string, ExitStatus | "failed" | "skipped">();
  const launch = (spec: AgentSpec) => {
    const p = lifecycle(spec).then((o) => {
      outcomes.set(spec.name, o);
      if (active.get(spec.name) === p) active.delete(spec.name);
    });
    active.set(spec.name, p);
  };

  /** Stops one agent on request and waits until it has ended; it stays stopped until `start`. */
  async function stopOne(spec: AgentSpec, req: ControlRequest): Promise<ControlResult> {
    const wasHeld = held.has(spec.name);
    held.add(spec.name);
    const agent = running.get(spec.name);
    if (!agent) {
      wakeOne.get(spec.name)?.(); // cut a back-off short: it is now stopped
      if (wasHeld || !active.has(spec.name)) return { id: spec.name, result: "already stopped" };
      // Backing off or waiting for its dependencies: no process to signal, but it is stopped now,
      // and says so, rather than showing its old state until it would have started.
      const was = record.agents[spec.name]?.state ?? "not started";
      stoppedWith.set(spec.name, req.signal ?? spec.stopSignal);
      setState(spec, { state: "stopped", waitingFor: undefined, nextStartAt: undefined });
      event(spec.name, `stopped on request while ${was} (no process to signal); not restarted until: kraal start ${spec.name}`);
      return { id: spec.name, result: "stopped", was };
    }
    const t0 = performance.now();
    stoppedWith.set(spec.name, req.signal ?? spec.stopSignal);
    agent.stop(req.signal ?? spec.stopSignal, req.graceMs ?? spec.graceMs);
    const end = await agent.done;
    const signal = req.signal ?? spec.stopSignal;
    return { id: spec.name, result: end.status.signal === "SIGKILL" ? "killed" : "stopped", signal, pgid: agent.pgid, elapsedMs: Math.round(performance.now() - t0) };
  }

  /**
   * Starts a stopped, failed or finished agent again (its lifecycle resumes, or a new one begins);
   * one backing off starts now. Answers once it has started, with its new pgid.
   */
  async function startOne(spec: AgentSpec, restarted = false): Promise<ControlResult> {
    const ok = (pgid: number | null | undefined): ControlResult => {
      if (pgid === null) {
        const why = startFailures.get(spec.name);
        return { id: spec.name, result: "failed", error: why ? `${spec.name} could not start: ${why}` : `${spec.name} did not start; see its lines in kraal up's output` };
      }
      return { id: spec.name, result: restarted ? "restarted" : "started", ...(pgid ? { pgid } : {}) };
    };
    const state = record.agents[spec.name]?.state;
    if (running.has(spec.name) && !held.has(spec.name)) return { id: spec.name, result: "already running", pgid: running.get(spec.name)!.pgid };
    if (active.has(spec.name) && !held.has(spec.name) && state !== "backoff") {
      return { id: spec.name, result: state === "waiting" ? "already waiting for its dependencies" : "already running" };
    }
    const started = nextStart(spec.name, START_ANSWER_MS);
    if (!active.has(spec.name)) {
      held.delete(spec.name);
      launch(spec);
    } else if (held.has(spec.name)) {
      startRequested.add(spec.name);
      wakeOne.get(spec.name)?.();
    } else {
      wakeOne.get(spec.name)?.(); // backing off: cut the delay short
    }
    return ok(await started);
  }

  async function control(req: ControlRequest): Promise<ControlResult[]> {
    const results = await controlEach(req);
    flush();
    return results;
  }

  function controlEach(req: ControlRequest): Promise<ControlResult[]> {
    return Promise.all(
      req.ids.map(async (id) => {
        const spec = specs.find((s) => s.name === id);
        if (!spec) return { id, result: "unknown", error: `${JSON.stringify(id)} is not an agent of this kraal up` };
        if (stopping()) return { id, result: "already stopped", error: "kraal up is stopping" };
        if (req.op === "start") return startOne(spec);
        const stopped = await stopOne(spec, req);
        if (req.op === "stop") return stopped;
        return { ...stopped, ...(await startOne(spec, true)) };
      }),
    );
  }

  let closeControl: () => Promise<void> = async () => {};
  try {
    closeControl = serveControl(l, control);
    specs.forEach(launch);
    while (active.size) await Promise.race(active.values());
    const ran = [...outcomes.values()].filter((r) => r !== "skipped");
    if (ran.length === 0 && !stopping()) throw new KraalError("E_NOTHING", "no agent was started (all are already running)");
    const allSucceeded = ran.every((r) => r !== "failed" && r.exitCode === 0);
    return { stoppedBy, endedBy, allSucceeded };
  } finally {
    await closeControl();
    for (const [sig, h] of handlers) process.off(sig, h);
    saveQueued = false; // a write still queued must not bring the record back
    removeSupervisor(l, record);
  }
}

/**
 * `kraal down`: SIGTERM to the running `up` through its verified handle (file owner, uid, boot,
 * host, start time; the start time re-checked right before the signal), then waits until it has
 * stopped its agents and exited. A record that fails any check is "none": nothing is signaled.
 */
export async function stopSupervisor(l: Layout, timeoutMs: number, reason = "kraal down"): Promise<{ result: "none" | "stopped" | "timeout"; pid?: number }> {
  const s = readSupervisor(l);
  if (!s?.alive) return { result: "none" };
  const { pid, start } = s.record;
  const isIt = () => {
    const st = readStat(pid);
    return !!st && st.startTicks === start && st.state !== "Z";
  };
  if (!isIt() || pid <= 1 || pid === process.pid) return { result: "none" };
  requestStop(l, `${reason} from pid ${process.pid}`);
  // Re-checked immediately before the signal: still the very process the verified record names.
  if (!isIt()) return { result: "none" };
  process.kill(pid, "SIGTERM");
  const deadline = performance.now() + timeoutMs;
  let wait = 2;
  while (isIt()) {
    if (performance.now() > deadline) return { result: "timeout", pid };
    await Bun.sleep(wait);
    wait = Math.min(wait * 2, 25);
  }
  return { result: "stopped", pid };
}
