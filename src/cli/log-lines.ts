import { closeSync, lstatSync, readdirSync } from "node:fs";
import { decodeId, encodeId } from "../handle/id.ts";
import type { Layout } from "../handle/state.ts";
import { followStep, logPath, printLog, type ByteSink, type Followed } from "../lifecycle/logs.ts";

/** A line longer than this is cut (and each piece prefixed), so one agent cannot make kraal buffer without bound. */
const MAX_LINE = 64 * 1024;

/**
 * Turns one log's bytes into prefixed lines (`id | `, a time), still byte for byte: lines are cut
 * at `\n` in the bytes, never decoded. An unfinished last line waits for the rest; `end` prints it
 * with a newline, so the next agent's line starts on its own. A line's time is the one current
 * when its first byte was seen.
 */
export class PrefixedLines {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private heldAt: Date | null = null;
  constructor(
    private readonly out: ByteSink,
    private readonly prefix: (at: Date) => string,
  ) {}

  push(chunk: Uint8Array, at: Date): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl + 1;
      const piece = chunk.subarray(start, end);
      if (!this.heldAt) this.heldAt = at;
      if (nl === -1) {
        // A copy: the chunk is a view of the reader's buffer, which the next read overwrites (and a
        // Buffer's slice() is a view too, not a copy).
        this.held.push(Uint8Array.prototype.slice.call(piece));
        this.heldBytes += piece.length;
        if (this.heldBytes >= MAX_LINE) this.emit(Buffer.from("\n"));
      } else this.emit(piece);
      start = end;
    }
  }

  /** Prints an unfinished last line, ended by a newline. */
  end(): void {
    if (this.heldAt) this.emit(Buffer.from("\n"));
  }

  private emit(last: Uint8Array): void {
    this.out(Buffer.from(this.prefix(this.heldAt!)));
    for (const h of this.held) this.out(h);
    this.out(last);
    this.held = [];
    this.heldBytes = 0;
    this.heldAt = null;
  }
}

/** The ids that have a current log in logs/, sorted (names encodeId would not make are skipped). */
export function loggedIds(l: Layout): string[] {
  let names: string[];
  try {
    names = readdirSync(l.logs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return names
    .filter((n) => n.endsWith(".log"))
    .map((n) => decodeId(n.slice(0, -".log".length)))
    .filter((id): id is string => id !== null)
    .sort();
}

/** One followed log: where it stands (the open file and how far it was printed), and its line prefixer. */
interface Watched {
  path: string;
  at: Followed;
  lines: PrefixedLines;
}

/**
 * `kraal logs` without an id: every agent's log (the last `tail` lines of each when given), each
 * line prefixed by `prefixFor(id)`; the stamp of a line already in a log is the log's last
 * modification time (no per-line time is recorded). With `follow`, keeps polling until `stop()`
 * says so: bytes appended to any log, a new run's log (the name holds another file) from its
 * start, and agents whose log appears later, each stamped with the time it was read.
 */
export async function printAll(
  l: Layout,
  out: ByteSink,
  prefixFor: (id: string) => (at: Date) => string,
  opts: { tail?: number; follow: boolean; stop: () => boolean; pollMs?: number },
): Promise<void> {
  const followed = new Map<string, Watched>();
  const buf = Buffer.allocUnsafe(64 * 1024);
  const open = (id: string, fromStart: boolean): Watched => {
    const path = logPath(l, encodeId(id));
    const f: Watched = { path, at: null, lines: new PrefixedLines(out, prefixFor(id)) };
    if (fromStart) {
      // A log that appeared since logs began (every generation of it): its lines are stamped now.
      f.at = followStep(path, null, (c) => f.lines.push(c, new Date()), buf);
    } else {
      // A log already there carries its last modification time; its rotated files come first (printLog).
      let at = new Date();
      try {
        at = lstatSync(path).mtime;
      } catch {}
      f.at = printLog(path, (c) => f.lines.push(c, at), opts.tail);
    }
    if (f.at && !opts.follow) f.lines.end();
    followed.set(id, f);
    return f;
  };
  for (const id of loggedIds(l)) open(id, false);
  if (!opts.follow) {
    for (const f of followed.values()) if (f.at) closeSync(f.at.log.fd);
    return;
  }
  // Appended bytes, rotated generations and a new run's log, each stamped with the time it was read.
  const drain = (f: Watched) => {
    f.at = followStep(f.path, f.at, (c) => f.lines.push(c, new Date()), buf);
  };
  try {
    while (!opts.stop()) {
      for (const f of followed.values()) drain(f);
      for (const id of loggedIds(l)) if (!followed.has(id)) open(id, true);
      await Bun.sleep(opts.pollMs ?? 100);
    }
    for (const f of followed.values()) {
      drain(f);
      f.lines.end();
    }
  } finally {
    for (const f of followed.values()) if (f.at) closeSync(f.at.log.fd);
  }
}
