import { KraalError, UnknownAgentError } from "../base/errors.ts";
import { lastRun } from "../lifecycle/history.ts";
import { encodeId } from "../handle/id.ts";
import { inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { isLive } from "../handle/verdict.ts";
import { readSpawnSpec } from "../lifecycle/spawn-spec.ts";
import { spawnAgent } from "../lifecycle/spawner.ts";
import { type StopOptions, type StopReport, stopAgent } from "../lifecycle/stop.ts";
import { CONFIRM_MS, DEFAULT_GRACE_MS } from "../lifecycle/terminate.ts";
import { type ControlOp, type ControlResult, sendControl } from "./control.ts";
import { readSupervisor } from "./supervisor.ts";

/** What `start` and `restart` did with one agent. */
export interface StartReport {
  id: string;
  /** "started", "restarted", "already running" (or, from up, "stopped"/"killed" parts of a restart). */
  result: string;
  pgid?: number;
}

/** Extra time a control request may take beyond the grace: the confirmation, a restart's start, and a busy machine. */
const CONTROL_SLACK_MS = CONFIRM_MS + 10_000;

/**
 * What a command asked for. Given flags apply to every agent; absent ones mean each agent's own
 * `grace`/`stop_signal` under `up`, and DEFAULT_GRACE_MS/SIGTERM for the others.
 */
export type StopRequest = Partial<StopOptions>;
const direct = (opts: StopRequest): StopOptions => ({ ...opts, graceMs: opts.graceMs ?? DEFAULT_GRACE_MS });

/**
 * Splits ids into those a live `kraal up` here supervises and the rest (spawned, or from a dead
 * up), with the longest grace among the former (how long up may take to stop them).
 */
function partition(l: Layout, ids: string[]): { viaUp: string[]; direct: string[]; graceMs: number } {
  const sup = readSupervisor(l);
  const ofUp = (id: string) => sup?.alive === true && Object.hasOwn(sup.record.agents, id);
  const viaUp = ids.filter(ofUp);
  const graceMs = Math.max(DEFAULT_GRACE_MS, ...viaUp.map((id) => sup!.record.agents[id]!.graceMs ?? DEFAULT_GRACE_MS));
  return { viaUp, direct: ids.filter((id) => !ofUp(id)), graceMs };
}

async function viaUp(l: Layout, op: ControlOp, ids: string[], opts: StopRequest, agentsGraceMs: number): Promise<Map<string, ControlResult>> {
  if (ids.length === 0) return new Map();
  const bound = op === "start" ? 0 : (opts.graceMs ?? agentsGraceMs);
  const results = await sendControl(l, { op, ids, signal: opts.signal, graceMs: opts.graceMs }, bound + CONTROL_SLACK_MS);
  return new Map(results.map((r) => [r.id, r]));
}

function fromUp(id: string, r: ControlResult | undefined): ControlResult {
  if (!r) throw new KraalError("E_CONTROL", `kraal up did not answer for ${JSON.stringify(id)}`);
  if (r.error) throw new KraalError("E_CONTROL", r.error, { facts: { id } });
  return r;
}

/**
 * Stops agents. Those of a running `kraal up` are stopped by it (an explicit stop: it does not
 * restart them, and shows them as `stopped` until `kraal start`); the others by their handles
 * (TERM, grace, KILL, confirm, retire). One result per id, in order.
 */
export async function stopAgents(l: Layout, ids: string[], opts: StopRequest): Promise<PromiseSettledResult<StopReport>[]> {
  const { viaUp: upIds, graceMs } = partition(l, ids);
  const up = viaUp(l, "stop", upIds, opts, graceMs);
  return Promise.allSettled(
    ids.map(async (id): Promise<StopReport> => {
      if (!upIds.includes(id)) return stopAgent(l, id, direct(opts));
      const r = fromUp(id, (await up).get(id));
      return { id, pgid: r.pgid ?? null, result: r.result as StopReport["result"], signal: (r.signal ?? opts.signal ?? "SIGTERM") as StopReport["signal"], elapsedMs: r.elapsedMs ?? 0, ...(r.was ? { was: r.was } : {}) };
    }),
  );
}

/**
 * Why `id` cannot be started again here: never heard of (exit 1, as `kill` of an unknown id), an
 * agent of a `kraal up` that is not running, or one `kraal run` started (nothing kept to rerun).
 */
function cannotStart(l: Layout, id: string, verb: "start" | "restart"): KraalError {
  const e = inspect(l, encodeId(id));
  const mode = e.verdict.handle?.mode ?? lastRun(l.history, id)?.mode;
  if (e.read.kind === "missing" && mode === undefined) return new UnknownAgentError(id);
  if (mode === "up") return new KraalError("E_NOT_UP", `cannot ${verb} ${JSON.stringify(id)}: it is an agent of kraal up, and no kraal up is running here`, { hint: `start it with: kraal up ${id}`, facts: { id } });
  return new KraalError("E_NO_SPEC", `cannot ${verb} ${JSON.stringify(id)}: kraal has no record of how it was started (only kraal spawn keeps one)`, { hint: `start it again with: kraal spawn ${id} -- CMD`, facts: { id } });
}

/** Starts a detached agent again from how it was spawned (specs/<id>), unless it runs. */
async function startFromSpec(l: Layout, id: string, restarted: boolean): Promise<StartReport> {
  const name = encodeId(id);
  const now = inspect(l, name).verdict;
  if (isLive(now)) return { id, result: "already running", pgid: now.handle?.pgid ?? now.legacyPgid ?? undefined };
  const spec = readSpawnSpec(l, name);
  if (!spec) throw cannotStart(l, id, restarted ? "restart" : "start");
  const { handle } = await spawnAgent(l, { id, argv: spec.argv, cwd: spec.cwd, env: spec.env, saveSpec: true, worktree: spec.worktree, ...(spec.logMax !== undefined ? { logMax: spec.logMax } : {}) });
  return { id, result: restarted ? "restarted" : "started", pgid: handle.pgid };
}

/**
 * Starts agents again: those of a running `kraal up` through it (a stopped or failed agent
 * resumes in its place, with its prefix), detached ones from how they were spawned, with the same
 * argv, cwd and environment.
 */
export async function startAgents(l: Layout, ids: string[]): Promise<PromiseSettledResult<StartReport>[]> {
  const { viaUp: upIds } = partition(l, ids);
  const up = viaUp(l, "start", upIds, {}, 0);
  return Promise.allSettled(ids.map(async (id) => (upIds.includes(id) ? fromUp(id, (await up).get(id)) : startFromSpec(l, id, false))));
}

/** Stops, then starts: through `up` for its agents, by handle and saved spec for the others. */
export async function restartAgents(l: Layout, ids: string[], opts: StopRequest): Promise<PromiseSettledResult<StartReport>[]> {
  const { viaUp: upIds, graceMs } = partition(l, ids);
  const up = viaUp(l, "restart", upIds, opts, graceMs);
  return Promise.allSettled(
    ids.map(async (id) => {
      if (upIds.includes(id)) return fromUp(id, (await up).get(id));
      const name = encodeId(id);
      if (!readSpawnSpec(l, name)) throw cannotStart(l, id, "restart");
      await stopAgent(l, id, direct(opts));
      return startFromSpec(l, id, true);
    }),
  );
}
