import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../handle/handle.ts";
import type { Layout } from "../handle/state.ts";
import { readTextSafe } from "../sys/safe-fs.ts";

/**
 * How a detached agent was started (argv, cwd, the complete environment), kept at
 * specs/<encoded-id> so `kraal restart` and `kraal start` can start it again exactly so. Private
 * to the user (0600 in the 0700 state directory): the environment may hold secrets. Never read to
 * decide what to signal.
 */
export interface SpawnSpec {
  v: 1;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** The worktree cwd is, when `spawn --worktree` made one (a restart runs in it again). */
  worktree?: { path: string; branch: string; repo: string };
  /** `spawn --log-max`, in bytes, when given. */
  logMax?: number;
}

/** A spec holds an environment and argv (the kernel allows at most 6 MiB of both, before JSON escaping); bigger is not one of ours. */
const MAX_SPEC_BYTES = 32 * 1024 * 1024;

export const specPath = (l: Layout, name: string) => join(l.root, "specs", name);

export function saveSpawnSpec(l: Layout, name: string, spec: Omit<SpawnSpec, "v">): void {
  const text = `${JSON.stringify({ v: 1, ...spec })}\n`;
  // Whatever is written must read back: a spec restart could not read is refused before the agent starts.
  if (Buffer.byteLength(text) > MAX_SPEC_BYTES) throw new Error(`its spec would be ${Buffer.byteLength(text)} bytes, more than ${MAX_SPEC_BYTES}`);
  mkdirSync(join(l.root, "specs"), { recursive: true, mode: 0o700 });
  writeFileAtomic(join(l.root, "specs"), name, text);
}

/** The saved spec, or null when there is none (or it is not one of ours). */
export function readSpawnSpec(l: Layout, name: string): SpawnSpec | null {
  try {
    const o = JSON.parse(readTextSafe(specPath(l, name), { maxBytes: MAX_SPEC_BYTES }) ?? "null") as SpawnSpec;
    const ok = o.v === 1 && Array.isArray(o.argv) && o.argv.length > 0 && o.argv.every((a) => typeof a === "string") && typeof o.cwd === "string" && typeof o.env === "object" && o.env !== null && (o.logMax === undefined || (Number.isSafeInteger(o.logMax) && o.logMax >= 0));
    return ok ? o : null;
  } catch {
    return null;
  }
}
