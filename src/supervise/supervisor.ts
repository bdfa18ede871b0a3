import { readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../handle/handle.ts";
import { currentIdentity, readStat } from "../handle/probes.ts";
import type { Layout } from "../handle/state.ts";

/** What `up` says about each of its agents, for `ps` and `status` in other shells. */
export interface SupervisedAgent {
  state: "running" | "starting" | "waiting" | "backoff" | "stopped" | "failed" | "exited";
  /** For `waiting`: the agents it waits for. */
  waitingFor?: string[];
  restarts: number;
  argv: string[];
  cwd: string;
  /** When a backing-off agent starts again, ms since the epoch. */
  nextStartAt?: number;
  exitCode?: number | null;
  signal?: string | null;
}

/**
 * `kraal up`'s own verified handle, at <state>/supervisor: its pid with the same identity
 * fields as an agent handle (start time, boot id, host, uid), so `down` signals it only after
 * proving it is still that process. Rewritten atomically on every agent state change.
 */
export interface SupervisorRecord {
  v: 1;
  pid: number;
  start: number;
  bootId: string;
  host: string;
  uid: number;
  startedAt: number;
  config: string;
  agents: Record<string, SupervisedAgent>;
}

const NAME = "supervisor";
export const supervisorPath = (l: Layout) => join(l.root, NAME);

export function newSupervisorRecord(config: string): SupervisorRecord {
  const me = currentIdentity();
  return { v: 1, pid: process.pid, start: readStat(process.pid)!.startTicks, bootId: me.bootId, host: me.host, uid: me.uid, startedAt: Date.now(), config, agents: {} };
}

export function writeSupervisor(l: Layout, r: SupervisorRecord): void {
  writeFileAtomic(l.root, NAME, `${JSON.stringify(r)}\n`);
}

export function removeSupervisor(l: Layout, r: SupervisorRecord): void {
  const current = readSupervisorFile(l);
  if (current && current.pid === r.pid && current.start === r.start) {
    try {
      unlinkSync(supervisorPath(l));
    } catch {}
  }
}

function readSupervisorFile(l: Layout): SupervisorRecord | null {
  try {
    const r = JSON.parse(readFileSync(supervisorPath(l), "utf8"));
    if (r?.v !== 1 || !Number.isSafeInteger(r.pid) || r.pid <= 1 || !Number.isSafeInteger(r.start) || typeof r.agents !== "object") return null;
    return r as SupervisorRecord;
  } catch {
    return null;
  }
}

/**
 * The supervisor record and whether its process is provably alive (same boot, host, uid; the
 * pid still has the recorded start time and is not a zombie). A record whose process is gone
 * is returned with alive=false, never trusted for signals.
 */
export function readSupervisor(l: Layout): { record: SupervisorRecord; alive: boolean } | null {
  const r = readSupervisorFile(l);
  if (!r) return null;
  const me = currentIdentity();
  const st = readStat(r.pid);
  const alive = r.bootId === me.bootId && r.host === me.host && r.uid === me.uid && !!st && st.startTicks === r.start && st.state !== "Z";
  return { record: r, alive };
}

const STOP_REQUEST = "supervisor.stop";

/**
 * `down` leaves its reason beside the supervisor record before it signals, so `up` can tell the
 * person at its terminal why it is stopping. Advisory only: nothing is signaled because of it.
 */
export function requestStop(l: Layout, reason: string): void {
  try {
    writeFileAtomic(l.root, STOP_REQUEST, `${JSON.stringify({ reason: reason.slice(0, 200) })}\n`);
  } catch {}
}

/** The reason a `down` left, if any (and removes it); null when the signal came from elsewhere. */
export function takeStopRequest(l: Layout): string | null {
  const path = join(l.root, STOP_REQUEST);
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as { reason?: unknown };
    unlinkSync(path);
    return typeof r.reason === "string" ? r.reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?") : null;
  } catch {
    return null;
  }
}
