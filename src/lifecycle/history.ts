import { closeSync, fstatSync, readSync, renameSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ExitStatus } from "../base/exit-status.ts";
import type { Handle } from "../handle/handle.ts";
import { appendSafe, lstatOrNull, O_CREATE_NEW, O_READ, openSafe, tempName, writeAll } from "../sys/safe-fs.ts";

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

/** History is compacted once it grows past this: a busy machine's weeks, and every read of it stays quick. */
export const HISTORY_MAX_BYTES = 8 * 1024 * 1024;
/** Compaction keeps this many of the latest runs of each id, and of those only the newest that fit in half the cap (so it is not redone at once). */
export const HISTORY_RUNS_PER_ID = 20;

/**
 * Appends entries in one write(2) with O_APPEND, before the handles they describe are removed:
 * a crash in between leaves a duplicate line (dropped by readHistory), never a lost run. The
 * caller holds the state lock; past HISTORY_MAX_BYTES the file is compacted (compactHistory).
 */
export function appendHistory(path: string, entries: HistoryEntry[], maxBytes = HISTORY_MAX_BYTES): void {
  if (entries.length === 0) return;
  appendSafe(path, entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
  compactIfLarge(path, maxBytes);
}

/** Compacts history when it is over `maxBytes` (one lstat when it is not). The caller holds the state lock. */
export function compactIfLarge(path: string, maxBytes = HISTORY_MAX_BYTES): boolean {
  const size = lstatOrNull(path)?.size ?? 0;
  if (size <= maxBytes) return false;
  compactHistory(path, { runsPerId: HISTORY_RUNS_PER_ID, keepBytes: Math.floor(maxBytes / 2) });
  return true;
}

const CHUNK = 64 * 1024;

/**
 * Every line of the file, in order, as bytes (without the newline), read through a 64 KiB buffer:
 * memory is one chunk plus the longest line, whatever the file's size. A missing or unsafe file
 * has no lines.
 */
export function* historyLines(path: string): Generator<Buffer> {
  let fd: number;
  try {
    fd = openSafe(path, O_READ);
  } catch {
    return;
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let carry: Buffer | null = null;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      const chunk: Buffer = carry ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let from = 0;
      for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
        if (nl > from) yield chunk.subarray(from, nl);
        from = nl + 1;
      }
      // What is left is copied: the buffer is reused by the next read.
      carry = from < chunk.length ? Buffer.from(chunk.subarray(from)) : null;
    }
    if (carry?.length) yield carry;
  } finally {
    closeSync(fd);
  }
}

/** Lines are written with `id` as the first key: this prefix finds one id's lines without parsing the others. */
const idPrefix = (id: string) => Buffer.from(`{"id":${JSON.stringify(id)},`);

function parseLine(line: Buffer): HistoryEntry | null {
  try {
    const e = JSON.parse(line.toString("utf8")) as HistoryEntry;
    return typeof e?.id === "string" && typeof e.pgid === "number" ? e : null;
  } catch {
    return null;
  }
}

const runKey = (e: HistoryEntry) => `${e.id}\0${e.pgid}\0${e.leaderStart}\0${e.startedAt}`;

/**
 * Well-formed entries, oldest first, each run once (same id, pgid and start); with `id`, only
 * that agent's (other lines are skipped unparsed). Streamed: the file is never read whole.
 */
export function readHistory(path: string, id?: string): HistoryEntry[] {
  const prefix = id === undefined ? null : idPrefix(id);
  const seen = new Set<string>();
  const out: HistoryEntry[] = [];
  for (const line of historyLines(path)) {
    if (prefix && !(line.length > prefix.length && line.subarray(0, prefix.length).equals(prefix))) continue;
    const e = parseLine(line);
    if (!e || (id !== undefined && e.id !== id)) continue;
    const key = runKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/** The last recorded run of `id`, or undefined. */
export const lastRun = (path: string, id: string): HistoryEntry | undefined => readHistory(path, id).at(-1);

/** Whether history has any run of `id` (stops at the first). */
export function hasRun(path: string, id: string): boolean {
  const prefix = idPrefix(id);
  for (const line of historyLines(path)) {
    if (line.length > prefix.length && line.subarray(0, prefix.length).equals(prefix) && parseLine(line)?.id === id) return true;
  }
  return false;
}

/**
 * Rewrites history keeping, of each id, its last `runsPerId` runs, and of those only the newest
 * lines that fit in `keepBytes`; duplicates and garbage lines go. Two streaming passes (one that
 * parses and decides, keeping a few numbers per line; one that copies the kept lines unparsed)
 * into a fresh temp file, then rename(2): readers see the old file or the new one. The caller
 * holds the state lock (nobody appends meanwhile). On a write error (a full disk) the temp file
 * is removed and history stays as it was.
 */
export function compactHistory(path: string, opts: { runsPerId: number; keepBytes: number }): void {
  // Ids by number, and per line: its run's number within its id (-1: dropped) and its id's number.
  const ids = new Map<string, number>();
  const runs: number[] = [];
  const seen = new Set<string>();
  const runOf: number[] = [];
  const idOf: number[] = [];
  const sizes: number[] = [];
  for (const line of historyLines(path)) {
    const e = parseLine(line);
    sizes.push(line.length + 1);
    const key = e ? runKey(e) : "";
    if (!e || seen.has(key)) {
      runOf.push(-1);
      idOf.push(-1);
    } else {
      seen.add(key);
      let k = ids.get(e.id);
      if (k === undefined) ids.set(e.id, (k = runs.push(0) - 1));
      runOf.push(runs[k]!++);
      idOf.push(k);
    }
    // Parsing leaves garbage faster than the collector runs on its own: keep memory flat.
    if (sizes.length % 32768 === 0) Bun.gc(false);
  }
  seen.clear();
  const kept = runOf.map((n, i) => n >= 0 && n >= runs[idOf[i]!]! - opts.runsPerId);
  let total = 0;
  kept.forEach((k, i) => (total += k ? sizes[i]! : 0));
  // The oldest kept lines go first while over keepBytes.
  for (let i = 0; total > opts.keepBytes && i < kept.length; i++) {
    if (kept[i]) {
      kept[i] = false;
      total -= sizes[i]!;
    }
  }
  const tmp = join(dirname(path), tempName(basename(path)));
  try {
    const fd = openSafe(tmp, O_CREATE_NEW);
    try {
      let out = Buffer.allocUnsafe(CHUNK);
      let used = 0;
      const flush = () => {
        writeAll(fd, out.subarray(0, used));
        used = 0;
      };
      let i = 0;
      for (const line of historyLines(path)) {
        if (!kept[i++]) continue;
        if (used + line.length + 1 > out.length) flush();
        if (line.length + 1 > out.length) out = Buffer.allocUnsafe(line.length + 1);
        used += line.copy(out, used);
        out[used++] = 10;
      }
      flush();
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
}

/** How much of history `countEndedSince` reads at a time, from the end: a few hundred runs. */
const RECENT_TAIL_BYTES = 64 * 1024;

/**
 * How many runs ended at or after `since` (ms since the epoch). History is read backwards from its
 * end, 64 KiB at a time, until a read begins with a run that ended earlier: entries are appended
 * as they are retired, so recent ones are at the end, though not strictly in order (an agent found
 * dead later is appended with its earlier end). One read when a few hundred runs ended in the
 * window, so `ps` stays fast whatever the history's size, and a whole count when more did (a
 * `kill --all` of 1,000 agents).
 */
export function countEndedSince(path: string, since: number): number {
  let fd: number;
  try {
    fd = openSafe(path, O_READ);
  } catch {
    return 0;
  }
  try {
    let end = fstatSync(fd).size;
    let count = 0;
    // The start of a line cut by the chunk after it, counted once its beginning has been read.
    let carried = "";
    for (;;) {
      const from = Math.max(0, end - RECENT_TAIL_BYTES);
      const buf = Buffer.alloc(end - from);
      const n = readSync(fd, buf, 0, buf.length, from);
      let text = buf.subarray(0, n).toString("utf8") + carried;
      carried = "";
      if (from > 0) {
        const nl = text.indexOf("\n");
        carried = nl < 0 ? text : text.slice(0, nl);
        text = nl < 0 ? "" : text.slice(nl + 1);
      }
      // Whether this read's first run (in file order) ended before the window. The pattern matches
      // only a key (a quote inside a JSON string is escaped), so it cannot come from an argument.
      let older: boolean | undefined;
      for (const line of text.split("\n")) {
        const m = /"endedAt":(\d+)/.exec(line);
        if (!m) continue;
        const recent = Number(m[1]) >= since;
        older ??= !recent;
        if (recent) count++;
      }
      if (from === 0) return count;
      if (older) {
        // A cut line whose endedAt survived the cut still counts, as a whole one would.
        const m = /"endedAt":(\d+)/.exec(carried);
        return m && Number(m[1]) >= since ? count + 1 : count;
      }
      end = from;
    }
  } finally {
    closeSync(fd);
  }
}
