import { readFileSync } from "node:fs";

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");

/**
 * Which of `argv` (the process's arguments after the program, as the runtime decoded them) were
 * not valid UTF-8 on the command line. The runtime hands arguments over as strings, replacing
 * bad bytes with U+FFFD, so `a\xfe` and `a\xff` would both arrive as `a\uFFFD`; the raw bytes
 * come from a targeted read of /proc/self/cmdline, matched from its end. Empty when the bytes
 * cannot be matched to `argv` (then nothing is claimed either way). Maps each index to its raw bytes.
 */
export function invalidUtf8Args(argv: string[], cmdline = "/proc/self/cmdline"): Map<number, Buffer> {
  const bad = new Map<number, Buffer>();
  if (!argv.some((a) => a.includes("\uFFFD"))) return bad;
  let raw: Buffer;
  try {
    raw = readFileSync(cmdline);
  } catch {
    return bad;
  }
  const parts: Buffer[] = [];
  for (let start = 0; start < raw.length; ) {
    const end = raw.indexOf(0, start);
    parts.push(raw.subarray(start, end < 0 ? raw.length : end));
    start = end < 0 ? raw.length : end + 1;
  }
  const tail = parts.slice(parts.length - argv.length);
  if (tail.length !== argv.length || tail.some((p, i) => lenient.decode(p) !== argv[i])) return bad;
  tail.forEach((p, i) => {
    try {
      strict.decode(p);
    } catch {
      bad.set(i, p);
    }
  });
  return bad;
}

/** Raw argument bytes for a message: ASCII as is, other bytes as `\xNN`, so the bad byte shows. */
export function showBytes(b: Buffer): string {
  let out = "";
  for (const c of b) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  return out;
}
