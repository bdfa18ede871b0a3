import { closeSync, fstatSync, lstatSync, readSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { O_READ, openSafe } from "../sys/safe-fs.ts";

export function logPath(l: Layout, name: string, previous = false): string {
  return join(l.logs, `${name}.log${previous ? ".1" : ""}`);
}

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
  if (lines <= 0) return size;
  let need = lines;
  let first = true;
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buf.length);
    const n = readSync(fd, buf, 0, end - start, start);
    for (let j = n - 1; j >= 0; j--) {
      const nl = buf[j] === 10;
      if (first) {
        first = false;
        if (nl) continue; // the newline that ends the final line
      }
      if (nl && --need === 0) return start + j + 1;
    }
    end = start;
  }
  return 0;
}

/**
 * Prints the log at `path`, or its last `lines` lines, to `sink` byte for byte, and returns the
 * open log (positioned at its end) for a follower; null when there is no log.
 */
export function printLog(path: string, sink: ByteSink, lines?: number): { log: OpenLog; pos: number } | null {
  const log = openLog(path);
  if (!log) return null;
  const buf = Buffer.allocUnsafe(CHUNK);
  const from = lines === undefined ? 0 : tailOffset(log.fd, log.size, lines, buf);
  copyRange(log.fd, from, log.size, sink, buf);
  return { log, pos: log.size };
}

/**
 * Follows the log until the agent is no longer running, then drains: bytes appended to the open
 * file are printed as they come; when the name holds another file (a new run began), the rest of
 * the old one is printed, then the new one from its start. Never decodes, never holds more than
 * one chunk. `running` says whether to go on (by default: while the agent's handle is running;
 * a caller that knows of restarts to come, such as a running `up`'s, passes its own).
 */
export async function followLog(
  l: Layout,
  name: string,
  path: string,
  at: { log: OpenLog; pos: number } | null,
  sink: ByteSink,
  running: () => boolean = () => inspect(l, name).verdict.state === "running",
): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let cur = at;
  const drain = () => {
    if (cur) cur.pos = copyRange(cur.log.fd, cur.pos, Infinity, sink, buf);
    let ino: number | null = null;
    try {
      ino = lstatSync(path).ino;
    } catch {}
    if (ino === null || ino === cur?.log.ino) return;
    const next = openLog(path);
    if (!next) return;
    if (cur) {
      copyRange(cur.log.fd, cur.pos, Infinity, sink, buf);
      closeSync(cur.log.fd);
    }
    cur = { log: next, pos: copyRange(next.fd, 0, Infinity, sink, buf) };
  };
  try {
    for (;;) {
      drain();
      if (!running()) break;
      await Bun.sleep(50);
    }
    drain();
  } finally {
    if (cur) closeSync(cur.log.fd);
  }
}
