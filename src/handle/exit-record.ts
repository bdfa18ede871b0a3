import { type ExitStatus, fromShellStatus } from "../base/exit-status.ts";
import { readSafe } from "../sys/safe-fs.ts";

/**
 * What the wrapper leaves at exits/<encoded-id> when its agent ends: `<pgid> <status>\n`,
 * written by one printf (no rename: that would cost a fork per exit). A reader that catches it
 * empty or half-written gets null, "not yet", and looks again.
 */
export interface ExitRecord extends ExitStatus {
  pgid: number;
  /** When the record was written (its mtime), ms since the epoch. */
  endedAt: number;
}

/** `<pgid> <status>\n` is at most 12 bytes; anything bigger is not a record. */
const MAX_EXIT_RECORD_BYTES = 64;

/**
 * What exits/<id> holds from spawn until the wrapper writes its record over it, at offset 0,
 * without truncating (the spawner writes it with pwrite, so fd 6's offset stays 0): the
 * record's disk space is taken before the agent starts, so an agent that fills the disk cannot
 * make its own exit status unrecordable. Readers see it as "no record yet".
 */
export const EXIT_RECORD_PLACEHOLDER = `${" ".repeat(31)}\n`;

/**
 * Parses an exit record's text; null for anything but two small integers. What is left of the
 * placeholder after the record (spaces and a newline) is ignored; the placeholder alone is null.
 */
export function parseExitRecord(text: string): { pgid: number; status: number } | null {
  const m = /^(\d{1,7}) (\d{1,3})(?:\n *)?\n?$/.exec(text);
  if (!m) return null;
  const status = Number(m[2]);
  return status <= 255 ? { pgid: Number(m[1]), status } : null;
}

/**
 * The exit record for one run, matched by pgid so a record left by an earlier run of the same id
 * is never attributed to this one. Null while the agent runs (or if it was SIGKILLed with its wrapper).
 */
export function readExitRecord(path: string, pgid: number): ExitRecord | null {
  let read: ReturnType<typeof readSafe>;
  try {
    // Never follows a link nor blocks on a FIFO planted there; anything odd reads as "no record".
    read = readSafe(path, MAX_EXIT_RECORD_BYTES);
  } catch {
    return null;
  }
  if (!read) return null;
  const endedAt = Math.round(read.stat.mtimeMs);
  const r = parseExitRecord(read.data.toString("latin1"));
  if (!r || r.pgid !== pgid) return null;
  return { pgid, endedAt, ...fromShellStatus(r.status) };
}
