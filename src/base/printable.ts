/**
 * Text from agents (argv, ids, reasons) shown to a person: control bytes and invisible format
 * characters are escaped, so a command line cannot move the cursor, recolour the terminal or
 * reorder what `ps` prints. `--json` keeps the exact values.
 */

/** C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi, zero width). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;

const PLAIN_ASCII = /^[\x20-\x7e]*$/;

const NAMED: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e" };

/** `s` with every unsafe character written as an escape (`\n`, `\e`, `\x07`, `\u202e`). */
export function printable(s: string): string {
  // Nearly every cell is plain printable ASCII: one quick test spares the Unicode-aware replace.
  if (PLAIN_ASCII.test(s)) return s;
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** `s` cut to `width` characters (code points), with an ellipsis when something was cut. */
export function truncate(s: string, width: number): string {
  const chars = Array.from(s);
  if (chars.length <= width) return s;
  if (width <= 1) return chars.slice(0, Math.max(width, 0)).join("");
  return chars.slice(0, width - 1).join("") + "…";
}
