import { closeSync, fstatSync, lstatSync, readSync } from "node:fs";
import { awaitLogWriter, LOG_FILES } from "./log-files.ts";
import { inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { O_READ, openSafe } from "../sys/safe-fs.ts";

export { logPath } from "./log-files.ts";

/** Where `logs` sends bytes: exactly as they are in the log, never decoded. */
export type ByteSink = (chunk: Uint8Array) => void;

/** Every read goes through one buffer of this size: memory stays constant whatever the log's size. */
const CHUNK = 64 * 1024;

/** An open log file: the fd keeps its bytes whatever is renamed or deleted afterwards. */
export interface OpenLog {
  fd: number;
  ino: number;
  /** Its size when opened: what a plain `logs` prints of it. */
  size: number;
}

/** Opens a log without following links or blocking (openSafe); null when there is none. */
export function openLog(path: string): OpenLog | null {
  let fd: number;
  try {
    fd = openSafe(path, O_READ);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const st = fstatSync(fd);
  return { fd, ino: st.ino, size: st.size };
}

/** Copies bytes [from, to) of fd to the sink (to = Infinity: until end of file); returns the end reached. */
export function copyRange(fd: number, from: number, to: number, sink: ByteSink, buf: Buffer = Buffer.allocUnsafe(CHUNK)): number {
  let pos = from;
  while (pos < to) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (n <= 0) break;
    sink(buf.subarray(0, n));
    pos += n;
  }
  return pos;
}

/**
 * Where the last `lines` lines of the first `size` bytes of fd begin, found by reading backwards
 * in chunks: a huge log costs only what is shown. A last line without a newline counts as a line.
 */
export function tailOffset(fd: number, size: number, lines: number, buf: Buffer = Buffer.allocUnsafe(CHUNK)): number {
  return tailLines(fd, size, lines, buf, true).offset;
}

/** tailOffset, and how many of the `lines` were not found in the file (to look for in an older one). */
function tailLines(fd: number, size: number, lines: number, buf: Buffer, newest: boolean): { offset: number; left: number } {
  if (lines <= 0) return { offset: size, left: 0 };
  let need = lines;
  // The newline that ends the final line is no boundary; in an older generation it is (the newer one starts a line).
  let first = newest;
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buf.length);
    const n = readSync(fd, buf, 0, end - start, start);
    for (let j = n - 1; j >= 0; j--) {
      const nl = buf[j] === 10;
      if (first) {
        first = false;
        if (nl) continue;
      }
      if (nl && --need === 0) return { offset: start + j + 1, left: 0 };
    }
    end = start;
  }
  // Reached its start: the line begun before it (in an older generation, or its first) is still wanted.
  return { offset: 0, left: need };
}

/**
 * Prints the log at `path` (its rotated generations first, oldest first), or its last `lines`
 * lines across them, to `sink` byte for byte, and returns the live file, open and positioned at
 * its end, for a follower; null when there is no log. Every file is opened before any is printed
 * (newest first, a file seen twice through a rotation once), so a rotation meanwhile loses nothing.
 */
export function printLog(path: string, sink: ByteSink, lines?: number): { log: OpenLog; pos: number } | null {
  const { files } = openNewestFirst(path); // newest first
  if (files.length === 0) return null;
  const buf = Buffer.allocUnsafe(CHUNK);
  const from: number[] = files.map(() => 0);
  let upto = files.length; // print files[0..upto)
  if (lines !== undefined) {
    let left = lines;
    upto = 0;
    // The log's final newline ends its last line, no boundary: it is in the newest file with bytes
    // (the live file is empty just after a rotation).
    let bytesAfter = 0;
    for (const f of files) {
      if (left <= 0) break;
      const t = tailLines(f.fd, f.size, left, buf, bytesAfter === 0);
      bytesAfter += f.size;
      from[upto++] = t.offset;
      left = t.left;
    }
    if (upto === 0) from[0] = files[0]!.size;
    upto = Math.max(upto, 1);
  }
  for (let i = upto - 1; i >= 0; i--) copyRange(files[i]!.fd, from[i]!, files[i]!.size, sink, buf);
  for (let i = 1; i < files.length; i++) closeSync(files[i]!.fd);
  const live = files[0]!;
  return { log: live, pos: live.size };
}

/** A followed log: the file open (null before there is one) and how far it has been printed. */
export type Followed = { log: OpenLog; pos: number } | null;

/**
 * Opens the generations of the log at `live` newest first (`live`, `.1` ... `.3`), each file
 * once, down to the one whose inode is `stop` (not included; `found` says whether it was met).
 * Newest first, because a rotation meanwhile moves a file to a name not yet opened (seen twice,
 * opened once), never past one.
 */
function openNewestFirst(live: string, stop?: number): { files: OpenLog[]; found: boolean } {
  const files: OpenLog[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < LOG_FILES; i++) {
    const f = openLog(i === 0 ? live : `${live}.${i}`);
    if (!f) continue;
    if (f.ino === stop || seen.has(f.ino)) {
      closeSync(f.fd);
      if (f.ino === stop) return { files, found: true };
      continue;
    }
    seen.add(f.ino);
    files.push(f);
  }
  return { files, found: false };
}

/**
 * One poll of a followed log at `path`: prints what was appended to the open file; when the name
 * holds another file, the rest of the old one, then every newer file from its start, oldest first:
 * the generations it rotated into, or, when a new run began meanwhile, what the old run wrote
 * after it (now `.prev*`), then the new run's. With nothing open yet, every generation there is.
 * Returns where it now stands. The file followed stays open until the newer ones are found, so its
 * inode cannot be reused by one of them.
 */
export function followStep(path: string, cur: Followed, sink: ByteSink, buf: Buffer = Buffer.allocUnsafe(CHUNK)): Followed {
  if (cur) {
    if (fstatSync(cur.log.fd).size < cur.pos) cur.pos = 0; // truncated in place: print it again from its start
    cur.pos = copyRange(cur.log.fd, cur.pos, Infinity, sink, buf);
  }
  let ino: number | null = null;
  try {
    ino = lstatSync(path).ino;
  } catch {}
  if (ino === null || ino === cur?.log.ino) return cur;
  const had = cur?.log.ino;
  if (cur) copyRange(cur.log.fd, cur.pos, Infinity, sink, buf);
  let { files: newer, found } = openNewestFirst(path, had);
  if (cur && !found) {
    // Not among this run's files: a new run began. What the old run wrote after it is in .prev*.
    const prev = openNewestFirst(`${path}.prev`, had);
    if (prev.found) newer = [...newer, ...prev.files];
    else for (const f of prev.files) closeSync(f.fd);
  }
  if (cur) closeSync(cur.log.fd);
  let now: Followed = null;
  for (let i = newer.length - 1; i >= 0; i--) {
    const next = newer[i]!;
    const pos = copyRange(next.fd, 0, Infinity, sink, buf);
    if (i > 0) closeSync(next.fd);
    else now = { log: next, pos };
  }
  // The live file may have rotated while the older ones were printed: the next step catches up.
  return now;
}

/**
 * Follows the log until the agent is no longer running, then drains (followStep every 50 ms).
 * Never decodes, never holds more than one chunk. `running` says whether to go on (by default:
 * while the agent's handle is running; a caller that knows of restarts to come, such as a running
 * `up`'s, passes its own).
 */
export async function followLog(
  l: Layout,
  name: string,
  path: string,
  at: Followed,
  sink: ByteSink,
  running: () => boolean = () => inspect(l, name).verdict.state === "running",
): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let cur = at;
  try {
    for (;;) {
      cur = followStep(path, cur, sink, buf);
      if (!running()) break;
      await Bun.sleep(50);
    }
    await awaitLogWriter(l, name);
    cur = followStep(path, cur, sink, buf);
  } finally {
    if (cur) closeSync(cur.log.fd);
  }
}
