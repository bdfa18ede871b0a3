import { closeSync, fstatSync, readSync } from "node:fs";
import type { ExitStatus } from "../base/exit-status.ts";
import type { Handle } from "../handle/handle.ts";
import { appendSafe, O_READ, openSafe, readTextSafe } from "../sys/safe-fs.ts";

/** One finished run, appended to history.jsonl when its handle is retired. */
export interface HistoryEntry extends ExitStatus {
  id: string;
  pgid: number;
  argv: string[];
  cwd: string;
  startedAt: number;
  endedAt: number;
  /** "exited" (ran and ended) or "stale" (its pid was reused or the machine rebooted: outcome unknown). */
  state: "exited" | "stale";
  /** How kraal learned of the end: "exit record", "killed", "pid reused", "other boot", ... */
  reason: string;
  /** True when kraal had to SIGKILL it. */
  forced?: boolean;
  leaderStart?: number;
  bootId?: string;
  mode?: string;
}

export function historyEntry(
  h: Pick<Handle, "id" | "pgid" | "argv" | "cwd" | "startedAt"> & Partial<Handle>,
  end: ExitStatus & { endedAt: number; state: HistoryEntry["state"]; reason: string; forced?: boolean },
): HistoryEntry {
  const e: HistoryEntry = {
    id: h.id,
    pgid: h.pgid,
    argv: h.argv,
    cwd: h.cwd,
    startedAt: h.startedAt,
    endedAt: end.endedAt,
    exitCode: end.exitCode,
    signal: end.signal,
    state: end.state,
    reason: end.reason,
  };
  if (end.forced) e.forced = true;
  if (h.leaderStart !== undefined) e.leaderStart = h.leaderStart;
  if (h.bootId !== undefined) e.bootId = h.bootId;
  if (h.mode !== undefined) e.mode = h.mode;
  return e;
}

/**
 * Appends entries in one write(2) with O_APPEND, before the handles they describe are removed:
 * a crash in between leaves a duplicate line (dropped by readHistory), never a lost run.
 */
export function appendHistory(path: string, entries: HistoryEntry[]): void {
  if (entries.length === 0) return;
  appendSafe(path, entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
}

/** All well-formed entries, oldest first, each run once (same id, pgid and start). */
export function readHistory(path: string): HistoryEntry[] {
  let text: string;
  try {
    text = readTextSafe(path) ?? "";
  } catch {
    return [];
  }
  const seen = new Set<string>();
  const out: HistoryEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    let e: HistoryEntry;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof e?.id !== "string" || typeof e.pgid !== "number") continue;
    const key = `${e.id}\0${e.pgid}\0${e.leaderStart}\0${e.startedAt}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/** How much of the end of history `countEndedSince` reads: a few hundred recent runs. */
const RECENT_TAIL_BYTES = 64 * 1024;

/**
 * How many runs ended at or after `since` (ms since the epoch), read from the last 64 KiB of
 * history only, so `ps` stays fast whatever the history's size (entries are appended in the order
 * they are retired, so recent ones are at the end).
 */
export function countEndedSince(path: string, since: number): number {
  let fd: number;
  try {
    fd = openSafe(path, O_READ);
  } catch {
    return 0;
  }
  try {
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - RECENT_TAIL_BYTES);
    const buf = Buffer.alloc(size - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    const lines = buf.subarray(0, n).toString("utf8").split("\n");
    // A partial first line still counts when its endedAt survived the cut: the pattern matches
    // only a key (a quote inside a JSON string is escaped), so it cannot come from an argument.
    let count = 0;
    for (const line of lines) {
      const m = /"endedAt":(\d+)/.exec(line);
      if (m && Number(m[1]) >= since) count++;
    }
    return count;
  } finally {
    closeSync(fd);
  }
}
