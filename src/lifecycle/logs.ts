import { closeSync, lstatSync, readSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "../handle/inspect.ts";
import type { Layout } from "../handle/state.ts";
import { O_READ, openSafe } from "../sys/safe-fs.ts";

export function logPath(l: Layout, name: string, previous = false): string {
  return join(l.logs, `${name}.log${previous ? ".1" : ""}`);
}

function readRange(path: string, from: number, to: number): string {
  const fd = openSafe(path, O_READ);
  try {
    const buf = Buffer.alloc(to - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * The whole log, or its last `lines` lines (read backwards in chunks, so a huge log costs only
 * what is shown). Null when there is no log.
 */
export function readTail(path: string, lines?: number): { text: string; size: number } | null {
  let size: number;
  try {
    // lstat: the size of a link is its own; reading it then refuses it (openSafe).
    size = lstatSync(path).size;
  } catch {
    return null;
  }
  if (lines === undefined) return { text: readRange(path, 0, size), size };
  if (lines === 0) return { text: "", size };
  let from = size;
  let text = "";
  const CHUNK = 64 * 1024;
  while (from > 0) {
    const start = Math.max(0, from - CHUNK);
    text = readRange(path, start, from) + text;
    from = start;
    // lines+1 newlines (the last may end the final line) guarantee `lines` whole lines
    if ((text.match(/\n/g)?.length ?? 0) > lines) break;
  }
  const all = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  const kept = all.slice(-lines);
  return { text: kept.length ? `${kept.join("\n")}${text.endsWith("\n") ? "\n" : ""}` : "", size };
}

/** Polls the log for growth and prints it until the agent is no longer running, then drains. */
export async function followLog(l: Layout, name: string, path: string, from: number, write: (s: string) => void): Promise<void> {
  let pos = from;
  const drain = () => {
    let size = pos;
    try {
      size = lstatSync(path).size;
    } catch {}
    if (size < pos) pos = 0; // rotated by a new run
    if (size > pos) {
      write(readRange(path, pos, size));
      pos = size;
    }
  };
  for (;;) {
    drain();
    if (inspect(l, name).verdict.state !== "running") break;
    await Bun.sleep(50);
  }
  drain();
}
