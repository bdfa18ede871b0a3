import { writeSync } from "node:fs";
import { isTerminal } from "../sys/tty.ts";
import type { ConsolaInstance } from "consola/core";

let stdoutClosed = false;

/**
 * Writes machine or table output to stdout. A closed pipe (`kraal ps | head`) is not an error:
 * Bun ignores SIGPIPE, so the write fails with EPIPE, which ends output quietly.
 */
export function writeOut(text: string): void {
  if (stdoutClosed) return;
  // One write(2) of the string nearly always takes it all; only what a short write left is
  // encoded again (encoding a whole table into a Buffer first cost ~0.5 ms at 1,000 rows).
  let written = 0;
  try {
    written = writeSync(1, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPIPE") {
      stdoutClosed = true;
      return;
    }
    if (code !== "EAGAIN") throw e;
  }
  if (written < Buffer.byteLength(text)) writeBytes(Buffer.from(text).subarray(written));
}

/** Writes bytes to stdout as they are (a log's contents: never decoded, never re-encoded). */
export function writeBytes(buf: Uint8Array): void {
  if (stdoutClosed) return;
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking stdout (a parent's pipe) that is full: wait a moment for the reader, not in a busy loop.
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      if (code === "EPIPE") {
        stdoutClosed = true;
        return;
      }
      throw e;
    }
  }
}

export function writeJson(value: unknown): void {
  writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(fd: number): boolean {
  return !process.env.NO_COLOR && isTerminal(fd);
}

let verbose = false;
export function setVerbose(v: boolean): void {
  verbose = v;
}
export const isVerbose = () => verbose;

let instance: ConsolaInstance | undefined;

/**
 * The one consola instance for human messages, on stderr. Created on first use (read-only
 * commands that print nothing never pay for it) with an explicit level and no throttling, so
 * NODE_ENV, CI or a TTY cannot change what a user sees.
 */
export function log(): ConsolaInstance {
  if (instance) return instance;
  const { createConsola } = require("consola/core") as typeof import("consola/core");
  const color = useColor(2);
  const tag = (type: string) => {
    const t = type === "warn" ? "warning: " : type === "error" || type === "fatal" ? "error: " : "";
    return color && t ? `\x1b[${type === "warn" ? 33 : 31}m${t}\x1b[0m` : t;
  };
  instance = createConsola({
    level: verbose ? 4 : 3,
    throttle: 0,
    reporters: [
      {
        log(obj) {
          const msg = obj.args.map((a) => (a instanceof Error ? (verbose ? a.stack : a.message) : String(a))).join(" ");
          try {
            writeSync(2, `kraal: ${tag(obj.type)}${msg}\n`);
          } catch {}
        },
      },
    ],
  });
  return instance;
}
