import { unlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../handle/handle.ts";
import { currentIdentity, type Identity, type ProcStat, readStat } from "../handle/probes.ts";
import type { Layout } from "../handle/state.ts";
import { readSafe, readTextSafe } from "../sys/safe-fs.ts";

/** What `up` says about each of its agents, for `ps` and `status` in other shells. */
export interface SupervisedAgent {
  state: "running" | "starting" | "waiting" | "backoff" | "stopped" | "failed" | "exited";
  /** For `waiting`: the agents it waits for. */
  waitingFor?: string[];
  restarts: number;
  /** Its stop grace, so `kraal stop` knows how long up may take to answer. */
  graceMs?: number;
  argv: string[];
  cwd: string;
  /** Set when `argv` is only the start of the agent's argv (see argvPreview). */
  argvCut?: true;
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

/**
 * How much of each agent's argv the record keeps: it is there only to show an agent between runs
 * (waiting, backoff, failed, stopped), which has no handle. A whole argv can be 2 MiB (a prompt as
 * arguments), and the record is rewritten on every state change and read back under
 * MAX_RECORD_BYTES: with twenty such agents it grew past that, and `down`, `kill --all` and `ps`
 * then found no `up` running while it ran.
 */
export const RECORD_ARGV_BYTES = 4096;

/** The start of `argv` within `maxBytes` of UTF-8 (cut at a character, marked with `…`), and whether it was cut. */
export function argvPreview(argv: string[], maxBytes = RECORD_ARGV_BYTES): { argv: string[]; argvCut?: true } {
  let left = maxBytes;
  const out: string[] = [];
  for (const arg of argv) {
    const n = Buffer.byteLength(arg);
    if (n <= left) {
      out.push(arg);
      left -= n;
      continue;
    }
    let cut = "";
    for (const ch of arg) {
      const b = Buffer.byteLength(ch);
      if (b > left) break;
      cut += ch;
      left -= b;
    }
    out.push(`${cut}…`);
    return { argv: out, argvCut: true };
  }
  return { argv: out };
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
  const current = readSupervisorFile(l)?.record;
  if (current && current.pid === r.pid && current.start === r.start) {
    try {
      unlinkSync(supervisorPath(l));
    } catch {}
  }
}

/** The record lists every agent with its argv; far bigger than this is not one of ours. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Validates the record field by field, as an agent handle is; null for anything off. */
export function parseSupervisorRecord(text: string): SupervisorRecord | null {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof r !== "object" || r === null || r.v !== 1) return null;
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!int(r.pid) || (r.pid as number) <= 1 || !int(r.start) || !int(r.uid) || !int(r.startedAt)) return null;
  if (typeof r.bootId !== "string" || r.bootId === "" || typeof r.host !== "string") return null;
  if (typeof r.agents !== "object" || r.agents === null || Array.isArray(r.agents)) return null;
  return r as unknown as SupervisorRecord;
}

/** The record and the uid owning its file; null when missing, unreadable, not a regular file or malformed. */
function readSupervisorFile(l: Layout): { record: SupervisorRecord; fileUid: number } | null {
  try {
    const read = readSafe(supervisorPath(l), MAX_RECORD_BYTES);
    const record = read && parseSupervisorRecord(read.data.toString("utf8"));
    return record ? { record, fileUid: read.stat.uid } : null;
  } catch {
    return null;
  }
}

/**
 * Whether a supervisor record names a live `kraal up` that is provably ours, checked as an agent
 * handle is: the file is owned by us, the record's uid, boot id and host are ours, and its pid is
 * alive (not a zombie) with the recorded start time. Anything else is never signaled and never
 * keeps `up` from starting.
 */
export function supervisorIsOurs(
  r: SupervisorRecord,
  fileUid: number,
  me: Identity = currentIdentity(),
  stat: (pid: number) => ProcStat | null = readStat,
): boolean {
  if (fileUid !== me.uid || r.uid !== me.uid || r.bootId !== me.bootId || r.host !== me.host) return false;
  const st = stat(r.pid);
  return !!st && st.startTicks === r.start && st.state !== "Z";
}

/**
 * The supervisor record and whether its process is provably alive and ours (supervisorIsOurs).
 * A record that fails is returned with alive=false, never trusted for signals.
 */
export function readSupervisor(l: Layout): { record: SupervisorRecord; alive: boolean } | null {
  const f = readSupervisorFile(l);
  if (!f) return null;
  return { record: f.record, alive: supervisorIsOurs(f.record, f.fileUid) };
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
    const r = JSON.parse(readTextSafe(path, { maxBytes: 4096 }) ?? "null") as { reason?: unknown };
    unlinkSync(path);
    return typeof r.reason === "string" ? r.reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?") : null;
  } catch {
    return null;
  }
}
