import { UsageError } from "../base/errors.ts";

/** Agent ids are 1–128 bytes of UTF-8. */
export const MAX_ID_BYTES = 128;
/** Percent-encoded names longer than this switch to the compact base64url form (NAME_MAX is 255). */
const MAX_PERCENT_NAME = 200;
const SAFE_BYTE = /^[A-Za-z0-9_.-]$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Bidirectional controls: they reorder what a terminal shows, so `ps` could show an id that is not the one typed (CVE-2021-42574). */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const PLAIN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/**
 * Checks an agent id: 1–128 bytes, well-formed Unicode, no control characters, no bidirectional
 * controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C). Invalid UTF-8 on the command
 * line is refused before this (cli/main.ts), since it arrives here already replaced by U+FFFD.
 * Throws UsageError with the reason; anything it accepts can be encoded into one file name.
 */
export function validateId(id: string): void {
  const bytes = Buffer.byteLength(id, "utf8");
  if (bytes < 1) throw new UsageError("agent id is empty");
  if (bytes > MAX_ID_BYTES) throw new UsageError(`agent id is ${bytes} bytes; the limit is ${MAX_ID_BYTES}`);
  if (!id.isWellFormed()) throw new UsageError("agent id is not valid Unicode");
  if (CONTROL.test(id)) throw new UsageError(`agent id ${JSON.stringify(id)} contains a control character`);
  const bidi = BIDI.exec(id);
  if (bidi) throw new UsageError(`agent id contains a bidirectional control (U+${bidi[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}), which would make it look like another`);
}

/**
 * The reversible file name for an id. Bytes outside `[A-Za-z0-9_.-]` become `%XX`, and so does a
 * leading dot, so `a/b`, `a-b`, `..` and `.tmp` never collide with each other, with a path
 * separator, or with kraal's own dot-files. Ids whose percent form would be too long for a file
 * name are written as `~` + base64url of their bytes (`~` never appears in the percent form).
 */
export function encodeId(id: string): string {
  const bytes = Buffer.from(id, "utf8");
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    out += SAFE_BYTE.test(ch) && !(i === 0 && ch === ".") ? ch : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out.length <= MAX_PERCENT_NAME ? out : `~${bytes.toString("base64url")}`;
}

/**
 * Inverse of encodeId. Returns null for any name encodeId would not have produced
 * (so a hand-made or foreign file in pids/ is reported, never misread as some other id).
 */
export function decodeId(name: string): string | null {
  // The common case: a plain name encodes to itself.
  if (PLAIN.test(name)) return name;
  let bytes: Buffer;
  if (name.startsWith("~")) {
    if (!/^~[A-Za-z0-9_-]+$/.test(name)) return null;
    bytes = Buffer.from(name.slice(1), "base64url");
  } else {
    if (!/^(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})+$/.test(name)) return null;
    const parts: number[] = [];
    for (let i = 0; i < name.length; ) {
      if (name[i] === "%") {
        parts.push(parseInt(name.slice(i + 1, i + 3), 16));
        i += 3;
      } else {
        parts.push(name.charCodeAt(i));
        i += 1;
      }
    }
    bytes = Buffer.from(parts);
  }
  const id = bytes.toString("utf8");
  try {
    validateId(id);
  } catch {
    return null;
  }
  return encodeId(id) === name ? id : null;
}
