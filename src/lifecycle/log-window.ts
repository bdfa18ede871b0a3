import { closeSync, fstatSync, readSync } from "node:fs";
import { O_READ, openSafe } from "../sys/safe-fs.ts";

/** What a client may ask for at once: enough for a screenful of context, never a whole huge log. */
export const MAX_WINDOW_BYTES = 1024 * 1024;

/** A bounded piece of a log. `nextOffset` is where to continue reading from. */
export interface LogWindow {
  text: string;
  /** Byte offset of the first byte of `text`. */
  offset: number;
  nextOffset: number;
  /** The log's size when read. */
  size: number;
  /** More bytes were in range than `maxBytes` allowed. */
  truncated: boolean;
}

/** Bytes at the end of `buf` that start a UTF-8 character it does not finish. */
function partialTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * A window of the log at `path`, never more than `maxBytes`: with `lines`, the last N lines (the
 * newest bytes if they do not fit); with `offset`, the bytes from there on (the oldest first, so
 * a client polling with `nextOffset` misses nothing). A character cut by the limit is left for
 * the next read. A log shorter than `offset` was rotated by a new run: reading starts at 0.
 * Null when there is no log.
 */
export function readLogWindow(path: string, opts: { lines?: number; offset?: number; maxBytes: number }): LogWindow | null {
  let fd: number;
  try {
    fd = openSafe(path, O_READ);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    const max = Math.min(opts.maxBytes, MAX_WINDOW_BYTES);
    const read = (from: number, to: number) => {
      const buf = Buffer.alloc(to - from);
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, from));
    };
    if (opts.offset !== undefined) {
      const from = opts.offset > size ? 0 : opts.offset;
      let buf = read(from, Math.min(size, from + max));
      const truncated = from + buf.length < size;
      buf = buf.subarray(0, buf.length - partialTail(buf));
      return { text: buf.toString("utf8"), offset: from, nextOffset: from + buf.length, size, truncated };
    }
    const lines = opts.lines ?? 100;
    const from = Math.max(0, size - max);
    let buf = read(from, size);
    // Keep the last `lines` lines: cut after the (lines+1)-th newline from the end (a final newline ends the last line).
    let cut = 0;
    let seen = 0;
    for (let i = buf.length - 1 - (buf[buf.length - 1] === 0x0a ? 1 : 0); i >= 0; i--) {
      if (buf[i] === 0x0a && ++seen === lines) {
        cut = i + 1;
        break;
      }
    }
    if (lines === 0) cut = buf.length;
    const truncated = cut === 0 && from > 0;
    // A window that starts mid-file may start mid-character: skip continuation bytes.
    if (cut === 0 && from > 0) while (cut < buf.length && (buf[cut]! & 0xc0) === 0x80) cut++;
    buf = buf.subarray(cut);
    return { text: buf.toString("utf8"), offset: from + cut, nextOffset: size, size, truncated };
  } finally {
    closeSync(fd);
  }
}
