import { mkdirSync, mkdtempSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * A fresh directory for a benchmark's state (kraal's state directories, the floors' files), in
 * the checkout's git-ignored .cache/bench/scratch/: where a project's own `./.kraal` would be, on
 * the project's filesystem. Not /tmp: on the machine these numbers come from, creating a file
 * under /tmp took ~0.5 ms against ~20 µs elsewhere on the same disk, and a spawn creates two.
 */
export function scratchDir(prefix: string): string {
  const base = resolve(import.meta.dir, "../.cache/bench/scratch");
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}
